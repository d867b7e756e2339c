//! Bridges between blocking tar/compression code and async object-store transfers: a writer that
//! hands fixed-size chunks to an uploader task, a reader fed by a download task, and the uploader
//! that turns chunks into a parallel multipart upload.

use bytes::Bytes;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, WriteMultipart};
use std::io::{Read, Write};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Size of the chunks handed from the tar thread to the uploader.
pub const CHUNK: usize = 8 << 20;
/// Multipart part size (S3 needs ≥ 5 MiB except for the last part).
pub const PART: usize = 16 << 20;

/// A `Write` that sends `CHUNK`-sized buffers over a channel (blocking when the uploader lags).
pub struct ChunkWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<Bytes>,
    /// Bytes written so far (after compression).
    pub written: u64,
}

impl ChunkWriter {
    /// A writer feeding `tx`.
    pub fn new(tx: mpsc::Sender<Bytes>) -> Self {
        ChunkWriter {
            buf: Vec::with_capacity(CHUNK),
            tx,
            written: 0,
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Bytes::from(chunk))
            .map_err(|_| std::io::Error::other("the upload stopped"))
    }

    /// Sends what is buffered and closes the stream.
    pub fn close(mut self) -> std::io::Result<u64> {
        self.send()?;
        Ok(self.written)
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.written += data.len() as u64;
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Uploads the chunks arriving on `rx` to `path` as a multipart upload with `concurrency` parts
/// in flight. Returns the object size.
pub async fn upload(
    store: Arc<dyn ObjectStore>,
    path: ObjPath,
    mut rx: mpsc::Receiver<Bytes>,
    concurrency: usize,
) -> Result<u64, object_store::Error> {
    let upload = store.put_multipart_opts(&path, Default::default()).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
    let mut size = 0u64;
    while let Some(chunk) = rx.recv().await {
        size += chunk.len() as u64;
        if let Err(e) = writer.wait_for_capacity(concurrency).await {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.put(chunk);
    }
    writer.finish().await?;
    Ok(size)
}

/// A `Read` over chunks arriving from a download task.
pub struct ChunkReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl ChunkReader {
    /// A reader fed by `rx`.
    pub fn new(rx: mpsc::Receiver<std::io::Result<Bytes>>) -> Self {
        ChunkReader {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}
