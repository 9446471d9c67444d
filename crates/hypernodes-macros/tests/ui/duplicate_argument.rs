use hypernodes::node;

#[node(name = "a", name = "b")]
fn f(x: i64) -> i64 {
    x
}

fn main() {}
