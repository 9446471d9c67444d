use hypernodes::node;

#[node(cache)]
fn f(x: i64) -> i64 {
    x
}

fn main() {}
