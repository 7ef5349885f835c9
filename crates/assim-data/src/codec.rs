//! Decompression of Zarr chunks, pure Rust: Blosc (version 1 frames, as numcodecs and zarr-python
//! write them by default: LZ4, Zstd or zlib inside, byte shuffle), gzip, zlib and Zstd. Blosc's
//! C library is not needed: its frame is a 16-byte header, block offsets, and per block one
//! compressed stream per byte of the item (or one), which is all this module reads.

use std::io::Read;

/// Decompresses a Blosc-1 frame (its header says how large the output is).
pub fn blosc(frame: &[u8]) -> Result<Vec<u8>, String> {
    if frame.len() < 16 {
        return Err(format!("Blosc frame of {} bytes is shorter than its 16-byte header", frame.len()));
    }
    let u32_at =
        |at: usize| u32::from_le_bytes([frame[at], frame[at + 1], frame[at + 2], frame[at + 3]]) as usize;
    let (flags, typesize) = (frame[2], frame[3].max(1) as usize);
    let (nbytes, blocksize, cbytes) = (u32_at(4), u32_at(8), u32_at(12));
    if cbytes > frame.len() {
        return Err(format!("Blosc frame says {cbytes} bytes but holds {}: truncated", frame.len()));
    }
    const MEMCPYED: u8 = 0x02;
    const SHUFFLE: u8 = 0x01;
    const BITSHUFFLE: u8 = 0x04;
    const DONT_SPLIT: u8 = 0x10;
    if flags & MEMCPYED != 0 {
        return frame
            .get(16..16 + nbytes)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| "Blosc frame truncated".to_string());
    }
    if flags & BITSHUFFLE != 0 && typesize > 1 {
        return Err("Blosc bit-shuffle is not supported (byte shuffle and no shuffle are)".into());
    }
    let compressor = flags >> 5;
    if blocksize == 0 {
        return if nbytes == 0 { Ok(Vec::new()) } else { Err("Blosc frame with a zero block size".into()) };
    }
    let nblocks = nbytes.div_ceil(blocksize);
    let mut out = vec![0u8; nbytes];
    let mut scratch = vec![0u8; blocksize];
    for b in 0..nblocks {
        let start = frame.get(16 + 4 * b..20 + 4 * b).ok_or("Blosc block offsets truncated")?;
        let mut at = u32::from_le_bytes([start[0], start[1], start[2], start[3]]) as usize;
        let bsize = blocksize.min(nbytes - b * blocksize);
        let leftover = bsize < blocksize;
        let splits = if flags & DONT_SPLIT == 0 && !leftover { typesize } else { 1 };
        let shuffled = flags & SHUFFLE != 0 && typesize > 1;
        let dest = &mut out[b * blocksize..b * blocksize + bsize];
        let target: &mut [u8] = if shuffled { &mut scratch[..bsize] } else { dest };
        let per = bsize / splits;
        for s in 0..splits {
            let size = frame.get(at..at + 4).ok_or("Blosc stream header truncated")?;
            let size = i32::from_le_bytes([size[0], size[1], size[2], size[3]]);
            at += 4;
            let part = &mut target[s * per..(s + 1) * per];
            if size < 0 {
                return Err(format!("Blosc stream of negative size {size}: not a Blosc-1 frame"));
            }
            let size = size as usize;
            let stream = frame.get(at..at + size).ok_or("Blosc stream truncated")?;
            at += size;
            if size == per {
                part.copy_from_slice(stream);
            } else {
                let got = match compressor {
                    1 => lz4_flex::block::decompress_into(stream, part)
                        .map_err(|e| format!("LZ4 stream in Blosc frame: {e}"))?,
                    3 => read_all(flate2::read::ZlibDecoder::new(stream), part)?,
                    4 => read_all(zstd_reader(stream)?, part)?,
                    0 => {
                        return Err(
                            "Blosc's own BloscLZ codec is not supported (LZ4, Zstd and zlib are)".into()
                        );
                    }
                    other => {
                        return Err(format!(
                            "Blosc compressor code {other} (Snappy or unknown) is not supported"
                        ));
                    }
                };
                if got != per {
                    return Err(format!("Blosc stream decompressed to {got} bytes, expected {per}"));
                }
            }
        }
        if shuffled {
            let items = bsize / typesize;
            for i in 0..items {
                for j in 0..typesize {
                    out[b * blocksize + i * typesize + j] = scratch[j * items + i];
                }
            }
            let tail = items * typesize;
            out[b * blocksize + tail..b * blocksize + bsize].copy_from_slice(&scratch[tail..bsize]);
        }
    }
    Ok(out)
}

/// Decompresses a gzip member.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).map_err(|e| format!("gzip: {e}"))?;
    Ok(out)
}

/// Decompresses a zlib stream.
pub fn zlib(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(bytes).read_to_end(&mut out).map_err(|e| format!("zlib: {e}"))?;
    Ok(out)
}

/// Decompresses a Zstd frame.
pub fn zstd(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    zstd_reader(bytes)?.read_to_end(&mut out).map_err(|e| format!("zstd: {e}"))?;
    Ok(out)
}

fn zstd_reader(bytes: &[u8]) -> Result<impl Read + '_, String> {
    ruzstd::decoding::StreamingDecoder::new(bytes).map_err(|e| format!("zstd: {e}"))
}

fn read_all(mut reader: impl Read, into: &mut [u8]) -> Result<usize, String> {
    let mut filled = 0;
    while filled < into.len() {
        match reader.read(&mut into[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(format!("decompression: {e}")),
        }
    }
    Ok(filled)
}
