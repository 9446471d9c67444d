use hypernodes::node;

#[node(output = "y", outputs = ("q", "r"))]
fn f(x: i64) -> (i64, i64) {
    (x, x)
}

fn main() {}
