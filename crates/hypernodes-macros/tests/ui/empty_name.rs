use hypernodes::node;

#[node(output = "")]
fn f(x: i64) -> i64 {
    x
}

fn main() {}
