use hypernodes::node;

#[node]
fn str(x: i64) -> i64 {
    x
}

fn main() {}
