use hypernodes::node;

struct S;

impl S {
    #[node]
    fn f(&self, x: i64) -> i64 {
        x
    }
}

fn main() {}
