use hypernodes::node;

#[node(outputs = ("q", "q"))]
fn f(x: i64) -> (i64, i64) {
    (x, x)
}

fn main() {}
