//! Compression of archived WAL and backup archives, byte-compatible with what Barman Cloud writes
//! for the same suffix (gzip, bzip2, snappy framing; lz4 and zstd frames).

use pgfed_api::barman::CompressionType;
use std::io::{Read, Write};

/// A compression this build cannot do.
#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    /// The algorithm is not compiled in.
    #[error("{0:?} compression is not supported by pgfed; use gzip, bzip2, lz4, snappy or zstd")]
    Unsupported(CompressionType),
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

/// Fails early for algorithms this build lacks, so misconfiguration shows at the first archive.
pub fn check_supported(c: Option<CompressionType>) -> Result<(), CompressionError> {
    match c {
        Some(CompressionType::Xz) => Err(CompressionError::Unsupported(CompressionType::Xz)),
        _ => Ok(()),
    }
}

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
}

impl<W: Write> Encoder<W> {
    /// Wraps `inner`. Levels favour speed: WAL and backups are large and mostly read once.
    pub fn new(c: Option<CompressionType>, inner: W) -> Result<Self, CompressionError> {
        check_supported(c)?;
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
                return Err(CompressionError::Unsupported(CompressionType::Xz));
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
        }
    }
}

/// Compresses a whole buffer (a WAL segment).
pub fn compress(c: Option<CompressionType>, data: &[u8]) -> Result<Vec<u8>, CompressionError> {
    let algorithm = c.unwrap_or(CompressionType::Gzip);
    let write_err = |source| CompressionError::Write { algorithm, source };
    let mut enc = Encoder::new(c, Vec::with_capacity(data.len() / 2))?;
    enc.write_all(data).map_err(write_err)?;
    enc.finish().map_err(write_err)
}

/// A reader that decompresses `inner`.
pub fn decoder<'a, R: Read + 'a>(
    c: Option<CompressionType>,
    inner: R,
) -> Result<Box<dyn Read + 'a>, CompressionError> {
    check_supported(c)?;
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
        Some(CompressionType::Xz) => {
            return Err(CompressionError::Unsupported(CompressionType::Xz));
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
    fn corrupt_input_is_an_error_not_garbage() {
        for c in [
            CompressionType::Gzip,
            CompressionType::Lz4,
            CompressionType::Zstd,
            CompressionType::Snappy,
        ] {
            let err = decompress(Some(c), b"definitely not compressed data").expect_err("corrupt");
            assert!(err.to_string().contains("corrupt"), "{err}");
        }
        assert!(compress(Some(CompressionType::Xz), b"x").is_err());
    }
}
