use hypernodes::node;

#[node(outputs = ())]
fn f(x: i64) -> i64 {
    x
}

fn main() {}
