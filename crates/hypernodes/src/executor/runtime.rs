//! The tokio runtime that drives `async fn` nodes. Each engine thread that calls an async node blocks
//! on its future here, so under "async" (or "threaded") execution up to `max_workers` futures make
//! progress together on one shared runtime.

//!
//! Without the `async` feature there is no tokio: [`block_on`] polls the future on the calling thread,
//! so async nodes that need a tokio runtime (timers, tokio I/O) panic there.

use std::future::Future;
#[cfg(feature = "async")]
use std::sync::OnceLock;

#[cfg(feature = "async")]
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

#[cfg(feature = "async")]
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
#[cfg(feature = "async")]
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

/// Runs a future to completion on the calling thread (no tokio: the `async` feature is off).
#[cfg(not(feature = "async"))]
pub fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}
