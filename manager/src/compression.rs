//! Compression of archived WAL and backup archives, byte-compatible with what Barman Cloud writes
//! for the same suffix (gzip, bzip2, snappy framing; lz4 and zstd frames; xz streams with a CRC64
//! check, as Python's `lzma` writes them for barman-cloud-wal-archive `--xz`).

use pgfed_api::barman::CompressionType;
use std::io::{Read, Write};

/// Compressing or decompressing failed.
#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    /// The data is not valid for the algorithm (corrupt or truncated object).
    #[error("{algorithm:?} data is corrupt: {source}")]
    Corrupt {
        /// Algorithm.
        algorithm: CompressionType,
        /// Cause.
        source: std::io::Error,
    },
    /// Writing compressed data failed.
    #[error("compressing with {algorithm:?}: {source}")]
    Write {
        /// Algorithm.
        algorithm: CompressionType,
        /// Cause.
        source: std::io::Error,
    },
}

impl CompressionError {
    /// A short, stable name for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            CompressionError::Corrupt { .. } => "corrupt_compressed_data",
            CompressionError::Write { .. } => "compress",
        }
    }
}

/// xz preset for archives. Python's default (6) needs ~94 MiB of encoder memory per stream, which
/// `maxParallel` uploads or `data.jobs` streams multiply inside a memory-limited pod; preset 1
/// needs ~10 MiB and still beats gzip's ratio, in line with the speed-first levels of the others.
const XZ_PRESET: u32 = 1;

/// A writer that compresses into `inner`; `finish` flushes the trailer and returns `inner`.
pub enum Encoder<W: Write> {
    /// No compression.
    Plain(W),
    /// gzip.
    Gzip(flate2::write::GzEncoder<W>),
    /// bzip2.
    Bzip2(bzip2::write::BzEncoder<W>),
    /// LZ4 frame.
    Lz4(lz4_flex::frame::FrameEncoder<W>),
    /// Snappy framing format.
    Snappy(Box<snap::write::FrameEncoder<W>>),
    /// Zstandard.
    Zstd(zstd::stream::write::Encoder<'static, W>),
    /// xz (LZMA2 in the .xz container, CRC64 check).
    Xz(liblzma::write::XzEncoder<W>),
}

impl<W: Write> Encoder<W> {
    /// Wraps `inner`. Levels favour speed: WAL and backups are large and mostly read once.
    pub fn new(c: Option<CompressionType>, inner: W) -> Result<Self, CompressionError> {
        Ok(match c {
            None => Encoder::Plain(inner),
            Some(CompressionType::Gzip) => Encoder::Gzip(flate2::write::GzEncoder::new(
                inner,
                flate2::Compression::fast(),
            )),
            Some(CompressionType::Bzip2) => Encoder::Bzip2(bzip2::write::BzEncoder::new(
                inner,
                bzip2::Compression::fast(),
            )),
            Some(CompressionType::Lz4) => Encoder::Lz4(lz4_flex::frame::FrameEncoder::new(inner)),
            Some(CompressionType::Snappy) => {
                Encoder::Snappy(Box::new(snap::write::FrameEncoder::new(inner)))
            }
            Some(CompressionType::Zstd) => Encoder::Zstd(
                zstd::stream::write::Encoder::new(inner, 1).map_err(|source| {
                    CompressionError::Write {
                        algorithm: CompressionType::Zstd,
                        source,
                    }
                })?,
            ),
            Some(CompressionType::Xz) => {
                Encoder::Xz(liblzma::write::XzEncoder::new(inner, XZ_PRESET))
            }
        })
    }

    /// Writes the trailer and returns the inner writer.
    pub fn finish(self) -> std::io::Result<W> {
        match self {
            Encoder::Plain(w) => Ok(w),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Bzip2(e) => e.finish(),
            Encoder::Lz4(e) => e.finish().map_err(std::io::Error::other),
            Encoder::Snappy(e) => e
                .into_inner()
                .map_err(|e| std::io::Error::other(e.to_string())),
            Encoder::Zstd(e) => e.finish(),
            Encoder::Xz(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Encoder::Plain(w) => w.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Bzip2(e) => e.write(buf),
            Encoder::Lz4(e) => e.write(buf),
            Encoder::Snappy(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Xz(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Encoder::Plain(w) => w.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Bzip2(e) => e.flush(),
            Encoder::Lz4(e) => e.flush(),
            Encoder::Snappy(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::Xz(e) => e.flush(),
        }
    }
}

/// Compresses a whole buffer: the in-progress WAL segment, read up to the flush LSN (the
/// archiver streams whole files through [`compress_file`], backups write through [`Encoder`]).
pub fn compress(c: Option<CompressionType>, data: &[u8]) -> Result<Vec<u8>, CompressionError> {
    let algorithm = c.unwrap_or(CompressionType::Gzip);
    let write_err = |source| CompressionError::Write { algorithm, source };
    let mut enc = Encoder::new(c, Vec::with_capacity(data.len() / 2))?;
    enc.write_all(data).map_err(write_err)?;
    enc.finish().map_err(write_err)
}

/// Compresses a file (a WAL segment) read in 1 MiB pieces: only the compressed result is ever
/// held whole, which spares the 16 MiB buffer per segment — page faults are a large share of
/// the archiver's CPU on a virtual machine.
pub fn compress_file(
    c: CompressionType,
    path: &std::path::Path,
) -> Result<Vec<u8>, CompressionError> {
    let write_err = |source| CompressionError::Write {
        algorithm: c,
        source,
    };
    let mut file = std::fs::File::open(path).map_err(write_err)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let capacity = usize::try_from(len / 4).unwrap_or(0);
    let mut enc = Encoder::new(Some(c), Vec::with_capacity(capacity))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(write_err(e)),
        };
        enc.write_all(&buf[..n]).map_err(write_err)?;
    }
    enc.finish().map_err(write_err)
}

/// A reader that decompresses `inner`.
pub fn decoder<'a, R: Read + 'a>(
    c: Option<CompressionType>,
    inner: R,
) -> Result<Box<dyn Read + 'a>, CompressionError> {
    Ok(match c {
        None => Box::new(inner),
        // Multi-member gzip (concatenated streams) is valid gzip; read all members.
        Some(CompressionType::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(inner)),
        Some(CompressionType::Bzip2) => Box::new(bzip2::read::MultiBzDecoder::new(inner)),
        Some(CompressionType::Lz4) => Box::new(lz4_flex::frame::FrameDecoder::new(inner)),
        Some(CompressionType::Snappy) => Box::new(snap::read::FrameDecoder::new(inner)),
        Some(CompressionType::Zstd) => {
            Box::new(zstd::stream::read::Decoder::new(inner).map_err(|source| {
                CompressionError::Corrupt {
                    algorithm: CompressionType::Zstd,
                    source,
                }
            })?)
        }
        // Concatenated .xz streams are valid xz (`xz -d` reads them all); only the .xz container
        // is accepted, not the legacy .lzma format the auto decoder would also take.
        Some(CompressionType::Xz) => {
            let stream = liblzma::stream::Stream::new_stream_decoder(
                u64::MAX,
                liblzma::stream::CONCATENATED,
            )
            .map_err(|e| CompressionError::Corrupt {
                algorithm: CompressionType::Xz,
                source: e.into(),
            })?;
            Box::new(liblzma::read::XzDecoder::new_stream(inner, stream))
        }
    })
}

/// Decompresses a whole buffer.
pub fn decompress(c: Option<CompressionType>, data: &[u8]) -> Result<Vec<u8>, CompressionError> {
    let Some(algorithm) = c else {
        return Ok(data.to_vec());
    };
    let mut out = Vec::with_capacity(data.len() * 2);
    decoder(c, data)?
        .read_to_end(&mut out)
        .map_err(|source| CompressionError::Corrupt { algorithm, source })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_supported_algorithm() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for c in [
            None,
            Some(CompressionType::Gzip),
            Some(CompressionType::Bzip2),
            Some(CompressionType::Lz4),
            Some(CompressionType::Snappy),
            Some(CompressionType::Zstd),
            Some(CompressionType::Xz),
        ] {
            let packed = compress(c, &data).expect("compress");
            if c.is_some() {
                assert!(
                    packed.len() < data.len(),
                    "{c:?} did not shrink repetitive data"
                );
            }
            assert_eq!(decompress(c, &packed).expect("decompress"), data, "{c:?}");
        }
    }

    #[test]
    fn compressing_a_file_matches_compressing_its_bytes() {
        // Larger than the 1 MiB read piece, not a multiple of it.
        let data: Vec<u8> = (0..700_000u32)
            .flat_map(|i| (i % 4093).to_le_bytes())
            .collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("000000010000000000000001");
        std::fs::write(&path, &data).expect("write");
        for c in [
            CompressionType::Gzip,
            CompressionType::Bzip2,
            CompressionType::Lz4,
            CompressionType::Snappy,
            CompressionType::Zstd,
            CompressionType::Xz,
        ] {
            let packed = compress_file(c, &path).expect("compress_file");
            assert_eq!(
                decompress(Some(c), &packed).expect("decompress"),
                data,
                "{c:?}"
            );
        }
        assert!(compress_file(CompressionType::Gzip, &dir.path().join("missing")).is_err());
    }

    #[test]
    fn corrupt_input_is_an_error_not_garbage() {
        for c in [
            CompressionType::Gzip,
            CompressionType::Lz4,
            CompressionType::Zstd,
            CompressionType::Snappy,
            CompressionType::Xz,
        ] {
            let err = decompress(Some(c), b"definitely not compressed data").expect_err("corrupt");
            assert!(err.to_string().contains("corrupt"), "{err}");
        }
    }

    /// What upstream barman-cloud-wal-archive `--xz` uploads: Python's
    /// `lzma.compress(b"barman-cloud-wal-archive --xz\n" * 3)` (xz container, CRC64 check).
    const PYTHON_LZMA: [u8; 100] = [
        0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04, 0xe6, 0xd6, 0xb4, 0x46, 0x02, 0x00, 0x21,
        0x01, 0x16, 0x00, 0x00, 0x00, 0x74, 0x2f, 0xe5, 0xa3, 0xe0, 0x00, 0x59, 0x00, 0x25, 0x5d,
        0x00, 0x31, 0x18, 0x4a, 0xab, 0x8f, 0x00, 0x63, 0xfa, 0xb3, 0x5a, 0x8c, 0x1e, 0xfa, 0x36,
        0x0f, 0xb7, 0x03, 0x6d, 0x5a, 0xd0, 0xc8, 0xb6, 0x78, 0x07, 0x40, 0xc0, 0x18, 0x2d, 0xb1,
        0xe2, 0x59, 0x10, 0xa6, 0x3b, 0x9c, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa5, 0x40, 0xd4,
        0x48, 0xc6, 0x81, 0xd1, 0x1d, 0x00, 0x01, 0x41, 0x5a, 0x85, 0x73, 0x5a, 0x42, 0x1f, 0xb6,
        0xf3, 0x7d, 0x01, 0x00, 0x00, 0x00, 0x00, 0x04, 0x59, 0x5a,
    ];

    #[test]
    fn xz_matches_what_barman_writes_and_reads() {
        let text = b"barman-cloud-wal-archive --xz\n".repeat(3);
        let xz = Some(CompressionType::Xz);
        assert_eq!(decompress(xz, &PYTHON_LZMA).expect("python's xz"), text);

        // Stream header magic and flags (CRC64) as Python's lzma and xz(1) write them, and the
        // footer magic, so upstream barman-cloud-wal-restore and `xz -d` read pgfed's objects.
        let packed = compress(xz, &text).expect("compress");
        assert_eq!(packed[..8], PYTHON_LZMA[..8]);
        assert_eq!(packed[packed.len() - 2..], *b"YZ");

        // Concatenated streams are one file to xz(1); a truncated stream is corrupt, not short.
        let mut twice = packed.clone();
        twice.extend_from_slice(&PYTHON_LZMA);
        let mut both = text.clone();
        both.extend_from_slice(&text);
        assert_eq!(decompress(xz, &twice).expect("concatenated"), both);
        let err = decompress(xz, &packed[..packed.len() - 10]).expect_err("truncated");
        assert!(err.to_string().contains("corrupt"), "{err}");
    }
}
