use hypernodes::node;

#[node]
fn f<T: Clone>(x: T) -> T {
    x
}

fn main() {}
