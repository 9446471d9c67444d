use hypernodes::node;

#[node]
fn f(x: impl Clone) -> i64 {
    let _ = x;
    0
}

fn main() {}
