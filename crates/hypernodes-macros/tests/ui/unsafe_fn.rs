use hypernodes::node;

#[node]
unsafe fn f(x: i64) -> i64 {
    x
}

fn main() {}
