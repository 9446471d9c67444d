use hypernodes::node;

#[node]
fn f(text: &str) -> usize {
    text.len()
}

fn main() {}
