//! Counts every request a Kubernetes client sends, by the API server it goes to (`hub` or a
//! member's name): how much load the controller puts on each API server is a figure the
//! benchmarks report and an operator watches.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::task::{Context, Poll};

/// Label of the API server a request went to.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiServer {
    /// `hub`, or the member's name.
    pub server: String,
}

/// A tower layer that counts requests into one counter.
#[derive(Clone, Debug)]
pub struct CountRequests {
    counter: Counter,
}

impl CountRequests {
    /// Counts into `family` under `server`.
    pub fn new(family: &Family<ApiServer, Counter>, server: &str) -> Self {
        Self {
            counter: family
                .get_or_create(&ApiServer {
                    server: server.to_string(),
                })
                .clone(),
        }
    }
}

impl<S> tower::Layer<S> for CountRequests {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            counter: self.counter.clone(),
        }
    }
}

/// The counting service.
#[derive(Clone, Debug)]
pub struct Counted<S> {
    inner: S,
    counter: Counter,
}

impl<S, R> tower::Service<R> for Counted<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.counter.inc();
        self.inner.call(request)
    }
}

/// A client of `config` whose requests are counted under `server`.
pub fn client(
    config: kube::Config,
    requests: &Family<ApiServer, Counter>,
    server: &str,
) -> Result<kube::Client, kube::Error> {
    let builder = kube::client::ClientBuilder::try_from(config)?;
    Ok(builder
        .with_layer(&CountRequests::new(requests, server))
        .build())
}
