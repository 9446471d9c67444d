use hypernodes::node;

#[node(outptu = "y")]
fn f(x: i64) -> i64 {
    x
}

fn main() {}
