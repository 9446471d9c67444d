//! The tokio runtime that drives `async fn` nodes. Each engine thread that calls an async node blocks
//! on its future here, so under "async" (or "threaded") execution up to `max_workers` futures make
//! progress together on one shared runtime.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hypernodes-tokio")
            .enable_all()
            .build()
            .expect("the tokio runtime can start")
    })
}

/// Runs a future to completion from synchronous engine code, also when the caller is itself inside a
/// tokio runtime (a multi-threaded one is not blocked: the wait moves off its worker; from a
/// current-thread runtime the future runs on the shared runtime).
pub fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| h.block_on(fut))
        }
        Ok(_) => std::thread::scope(|s| {
            s.spawn(|| runtime().block_on(fut))
                .join()
                .expect("an async node panicked")
        }),
        Err(_) => runtime().block_on(fut),
    }
}
