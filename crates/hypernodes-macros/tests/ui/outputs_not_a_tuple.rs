use hypernodes::node;

#[node(outputs = q)]
fn f(x: i64) -> i64 {
    x
}

fn main() {}
