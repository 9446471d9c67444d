use hypernodes::node;

#[node]
fn f(items: &[i64]) -> usize {
    items.len()
}

fn main() {}
