use hypernodes::node;

#[node]
fn f(x: i64) -> _ {
    x
}

fn main() {}
