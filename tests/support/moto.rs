//! A local AWS server of a test's own (moto's server, the one `make test` installs), for faults
//! that would disturb other tests: it can be frozen (SIGSTOP: connections are accepted by the
//! kernel and then nothing answers, as with a server that stopped responding) and thawed
//! (SIGCONT), keeping its state.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct OwnMoto {
    pub url: String,
    child: Child,
}

impl Drop for OwnMoto {
    fn drop(&mut self) {
        self.thaw();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OwnMoto {
    /// Starts moto's server on a free port of 127.0.0.1 and waits until it answers.
    pub async fn start() -> Self {
        let program = std::env::var("HOOKLINE_TEST_MOTO_SERVER").unwrap_or_else(|_| {
            panic!(
                "this test starts a moto server of its own: run `make test`, or set \
                 HOOKLINE_TEST_MOTO_SERVER to the moto_server program"
            )
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        while client
            .get(format!("{}/moto-api/", moto.url))
            .send()
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        moto
    }

    /// The server stops answering (its process is stopped).
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// The server goes on where it stopped.
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        let status = Command::new("kill")
            .args([which, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {which} failed");
    }
}
