use hypernodes::node;

#[node]
fn f(items: &mut Vec<i64>) -> usize {
    items.len()
}

fn main() {}
