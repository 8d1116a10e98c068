//! A TCP link to a server that a test can cut and restore: what an outage of the AWS endpoint
//! looks like from a function. While it is down, open connections are reset and new ones are
//! reset as soon as they are accepted; when it is back, connections go through again to the
//! same server, whose state is untouched (as AWS's would be after a network fault).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Link {
    /// `http://127.0.0.1:PORT`: give this to the clients instead of the server's address.
    pub url: String,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<JoinHandle<()>>>>,
    task: JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
        self.cut_open_connections();
    }
}

impl Link {
    /// A link to `target` (`http://HOST:PORT`), up.
    pub async fn start(target: &str) -> Self {
        let target = target
            .strip_prefix("http://")
            .expect("an http:// target")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (is_up, connections) = (up.clone(), open.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if !is_up.load(Ordering::SeqCst) {
                    reset(client);
                    continue;
                }
                let target = target.clone();
                let forward = tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return reset(client);
                    };
                    let mut client = client;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                let mut connections = connections.lock().unwrap();
                connections.retain(|c| !c.is_finished());
                connections.push(forward);
            }
        });
        Self {
            url,
            up,
            open,
            task,
        }
    }

    /// The server goes away: open connections are cut, new ones reset.
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut_open_connections();
    }

    /// The server is back.
    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    fn cut_open_connections(&self) {
        for connection in self.open.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}
