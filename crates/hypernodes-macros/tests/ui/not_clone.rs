use hypernodes::node;

struct NotClone;

#[node]
fn f(x: NotClone) -> i64 {
    let _ = x;
    0
}

fn main() {}
