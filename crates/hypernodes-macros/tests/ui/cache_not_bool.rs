use hypernodes::node;

#[node(cache = "no")]
fn f(x: i64) -> i64 {
    x
}

fn main() {}
