//! SBOM documents as the store keeps them: zstd-compressed. SBOMs are JSON and shrink 4× or
//! more, so an ingest writes and syncs a fraction of the document's bytes (issue 4: storing a
//! 14.7 MB document was a fifth of indexing it) and the store file grows less.

use crate::{Result, StoreError};

/// First byte of a compressed document. Stored documents from before compression are the
/// JSON as ingested, which cannot begin with a NUL byte.
const ZSTD: u8 = 0;
/// zstd's fastest regular level: about 500 MB/s on one core here, 4× on a synthetic SBOM.
const LEVEL: i32 = 1;
/// No document unpacks to more than this; a larger claim in a frame header is corruption.
const MAX_UNPACKED: u64 = 1 << 30;

/// An SBOM document ready for [`crate::SbomStore::put_sbom_packed`]. Packing is pure CPU and
/// needs only the bytes, so a caller can pack on another core while it parses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedDocument(Vec<u8>);

impl PackedDocument {
    pub fn pack(document: &[u8]) -> Self {
        // With a checksum, a damaged document reads as corrupt rather than as other bytes.
        // Compressing into memory fails only when allocating fails, which aborts anyway.
        let frame = zstd::bulk::Compressor::new(LEVEL)
            .and_then(|mut c| {
                c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
                c.compress(document)
            })
            .expect("zstd compresses in memory");
        let mut out = Vec::with_capacity(1 + frame.len());
        out.push(ZSTD);
        out.extend_from_slice(&frame);
        PackedDocument(out)
    }

    /// How many bytes the store keeps for the document.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes stored.
    pub(crate) fn stored(&self) -> &[u8] {
        &self.0
    }
}

/// The document as ingested from its stored form (compressed, or as ingested for rows written
/// before compression).
pub(crate) fn unpack(stored: Vec<u8>) -> Result<Vec<u8>> {
    let corrupt = |what: String| StoreError::Corrupt(format!("stored SBOM document: {what}"));
    let Some((&ZSTD, frame)) = stored.split_first() else {
        return Ok(stored);
    };
    let size = match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n <= MAX_UNPACKED => n as usize,
        Ok(Some(n)) => return Err(corrupt(format!("claims {n} bytes"))),
        Ok(None) | Err(_) => return Err(corrupt("no zstd frame size".into())),
    };
    let out = zstd::bulk::decompress(frame, size).map_err(|e| corrupt(e.to_string()))?;
    if out.len() != size {
        return Err(corrupt(format!("{} bytes, frame says {size}", out.len())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_unpacks_exact_bytes() {
        let doc = br#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}"#.repeat(50);
        let packed = PackedDocument::pack(&doc);
        assert!(packed.stored().len() < doc.len() / 4);
        assert_eq!(unpack(packed.stored().to_vec()).unwrap(), doc);
        // Empty documents are never stored, but pack like any other.
        assert_eq!(unpack(PackedDocument::pack(b"").0).unwrap(), b"");
    }

    #[test]
    fn rows_from_before_compression_read_as_stored() {
        let doc = b" \n{\"spdxVersion\":\"SPDX-2.3\"}".to_vec();
        assert_eq!(unpack(doc.clone()).unwrap(), doc);
        assert_eq!(unpack(Vec::new()).unwrap(), b"");
    }

    #[test]
    fn damaged_frames_are_corruption_not_panics() {
        let mut packed = PackedDocument::pack(&b"spdx ".repeat(1000)).0;
        for bad in [
            vec![ZSTD],
            vec![ZSTD, 1, 2, 3],
            packed[..packed.len() / 2].to_vec(),
        ] {
            assert!(
                matches!(unpack(bad), Err(StoreError::Corrupt(_))),
                "damaged frame accepted"
            );
        }
        let last = packed.len() - 8;
        packed[last] ^= 0xff;
        assert!(unpack(packed).is_err());
    }
}
