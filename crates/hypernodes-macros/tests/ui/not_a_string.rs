use hypernodes::node;

#[node(output = y)]
fn f(x: i64) -> i64 {
    x
}

fn main() {}
