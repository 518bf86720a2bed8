//! NumPy `.npy` files in C order: little-endian f32 (`<f4`), what the fixtures, the tests and
//! the CLI's `run --input x.npy --output y.npy` exchange, and int8 / uint8 codes (`|i1`,
//! `|u1`), the raw input of a quantized model.
//!
//! Written here rather than taken from a crate: the format is a magic, a length and a
//! Python-dict header, and the maintained crates pull in a parser generator and bignums
//! (npyz) or ndarray (ndarray-npy), which every mobile build would then compile.

use super::read_path;
use crate::{Error, Result};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// An n-dimensional f32 array as stored in a `.npy` file (C order).
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

fn bad(offset: usize, why: impl std::fmt::Display) -> Error {
    Error::Model(format!("npy: {why} (at byte offset {offset})"))
}

/// The values of a `.npy` file, by element type.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    /// `<f4`
    F32(Vec<f32>),
    /// `|i1`
    I8(Vec<i8>),
    /// `|u1`
    U8(Vec<u8>),
}

/// An n-dimensional array of f32, i8 or u8 as stored in a `.npy` file (C order).
#[derive(Clone, Debug, PartialEq)]
pub struct NpyTensor {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

/// Parses a `.npy` file of `<f4` values in C order. Other dtypes and Fortran order are
/// refused with the header's `descr` / `fortran_order`.
pub fn read_npy(bytes: &[u8]) -> Result<NpyArray> {
    let (shape, descr, (start, body_at)) = header(bytes)?;
    if descr != "<f4" {
        return Err(bad(
            start,
            format!("dtype {descr:?} is not little-endian float32 '<f4'"),
        ));
    }
    match body(bytes, shape, descr, (start, body_at))? {
        NpyTensor {
            shape,
            data: NpyData::F32(data),
        } => Ok(NpyArray { shape, data }),
        _ => unreachable!("a '<f4' body parses as f32"),
    }
}

/// Parses a `.npy` file of `<f4`, `|i1` or `|u1` values in C order. Other dtypes and
/// Fortran order are refused with the header's `descr` / `fortran_order`.
pub fn read_npy_tensor(bytes: &[u8]) -> Result<NpyTensor> {
    let (shape, descr, at) = header(bytes)?;
    body(bytes, shape, descr, at)
}

/// The shape, the dtype (`descr`) and the offsets of the header and of the data of a
/// `.npy` file.
fn header(bytes: &[u8]) -> Result<(Vec<usize>, &str, (usize, usize))> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad(0, "not a .npy file (missing \\x93NUMPY magic)"));
    }
    let major = bytes[6];
    let (header_len, header_start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            let Some(b) = bytes.get(8..12) else {
                return Err(bad(8, "truncated header length"));
            };
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        v => return Err(bad(6, format!("unsupported format version {v}"))),
    };
    let header_end = header_start + header_len;
    let Some(header) = bytes.get(header_start..header_end) else {
        return Err(bad(
            header_start,
            format!(
                "header of {header_len} bytes runs past the end of the {}-byte file",
                bytes.len()
            ),
        ));
    };
    let header = std::str::from_utf8(header).map_err(|e| {
        bad(
            header_start + e.valid_up_to(),
            "header is not UTF-8 text".to_string(),
        )
    })?;
    let descr = dict_value(header, "descr").ok_or_else(|| bad(header_start, "no 'descr'"))?;
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
    if !matches!(descr, "<f4" | "|i1" | "|u1") {
        return Err(bad(
            header_start,
            format!(
                "dtype {descr:?} is not little-endian float32 '<f4', int8 '|i1' or uint8 '|u1'"
            ),
        ));
    }
    let fortran = dict_value(header, "fortran_order")
        .ok_or_else(|| bad(header_start, "no 'fortran_order'"))?;
    if fortran.trim() != "False" {
        return Err(bad(header_start, "Fortran-order arrays are not supported"));
    }
    let shape_text = dict_value(header, "shape").ok_or_else(|| bad(header_start, "no 'shape'"))?;
    let inner = shape_text
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| bad(header_start, format!("shape {shape_text:?} is not a tuple")))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| bad(header_start, format!("shape entry {s:?} is not a size")))
        })
        .collect::<Result<Vec<usize>>>()?;
    Ok((shape, descr, (header_start, header_end)))
}

/// The values after the header: `descr` is one of the dtypes `header` accepts.
fn body(
    bytes: &[u8],
    shape: Vec<usize>,
    descr: &str,
    (start, at): (usize, usize),
) -> Result<NpyTensor> {
    let size = if descr == "<f4" { 4 } else { 1 };
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(start, format!("shape {shape:?} overflows")))?;
    let body = &bytes[at..];
    // Checked before allocating, so a lying shape cannot ask for more than the file holds.
    if count.checked_mul(size) != Some(body.len()) {
        return Err(bad(
            at,
            format!(
                "shape {shape:?} needs {count} {descr} values, the data holds {} bytes",
                body.len()
            ),
        ));
    }
    let data = match descr {
        "<f4" => NpyData::F32(
            body.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        "|i1" => NpyData::I8(body.iter().map(|&b| b as i8).collect()),
        _ => NpyData::U8(body.to_vec()),
    };
    Ok(NpyTensor { shape, data })
}

/// The text of `key`'s value in a header like `{'descr': '<f4', 'shape': (1, 3), }`.
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let quoted = [format!("'{key}'"), format!("\"{key}\"")];
    let at = quoted
        .iter()
        .find_map(|q| header.find(q.as_str()).map(|i| i + q.len()))?;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    // A tuple runs to its ')'; any other value to the next ','.
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(&rest[..end])
}

/// Reads a `.npy` file of f32; errors name the path.
pub fn read_npy_file(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    read_npy(&read_path(path)?).map_err(|e| name_path(path, e))
}

/// Reads a `.npy` file of f32, i8 or u8; errors name the path.
pub fn read_npy_tensor_file(path: impl AsRef<Path>) -> Result<NpyTensor> {
    let path = path.as_ref();
    read_npy_tensor(&read_path(path)?).map_err(|e| name_path(path, e))
}

fn name_path(path: &Path, e: Error) -> Error {
    match e {
        Error::Model(m) => Error::Model(format!("{}: {m}", path.display())),
        e => e,
    }
}

/// Encodes `data` with `shape` as a version 1.0 `.npy` file of `<f4`.
pub fn write_npy(shape: &[usize], data: &[f32]) -> Result<Vec<u8>> {
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if count != Some(data.len()) {
        return Err(Error::Shape(format!(
            "npy shape {shape:?} does not hold {} values",
            data.len()
        )));
    }
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    // The data starts 64-byte aligned (numpy's rule): pad with spaces, end with '\n'.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let header_len = u16::try_from(header.len())
        .map_err(|_| Error::Shape(format!("npy shape {shape:?} has too many dimensions")))?;
    let mut out = Vec::with_capacity(10 + header.len() + 4 * data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

/// Writes `data` with `shape` to a `.npy` file; errors name the path.
pub fn write_npy_file(path: impl AsRef<Path>, shape: &[usize], data: &[f32]) -> Result<()> {
    let path = path.as_ref();
    std::fs::write(path, write_npy(shape, data)?).map_err(|e| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 1.0 file with header `dict`, padded as numpy pads it, and `values`.
    fn npy_bytes(dict: &str, values: &[f32]) -> Vec<u8> {
        let mut h = dict.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        for v in values {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b
    }

    // The bytes numpy writes for np.save(f, np.array([[1.5, -2.0, 0.25]], dtype='<f4')).
    fn numpy_bytes() -> Vec<u8> {
        npy_bytes(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }",
            &[1.5, -2.0, 0.25],
        )
    }

    #[test]
    fn reads_what_numpy_writes() {
        let a = read_npy(&numpy_bytes()).unwrap();
        assert_eq!(a.shape, vec![1, 3]);
        assert_eq!(a.data, vec![1.5, -2.0, 0.25]);
    }

    #[test]
    fn writes_what_numpy_writes() {
        assert_eq!(
            write_npy(&[1, 3], &[1.5, -2.0, 0.25]).unwrap(),
            numpy_bytes()
        );
        let one_d = write_npy(&[2], &[1.0, 2.0]).unwrap();
        assert_eq!(read_npy(&one_d).unwrap().shape, vec![2]);
        let scalar = write_npy(&[], &[7.0]).unwrap();
        assert_eq!(read_npy(&scalar).unwrap().data, vec![7.0]);
    }

    #[test]
    fn malformed_files_name_the_offset() {
        let good = numpy_bytes();
        let e = read_npy(&good[..good.len() - 1]).unwrap_err().to_string();
        assert!(e.contains("offset 128"), "{e}");
        let e = read_npy(&good[..50]).unwrap_err().to_string();
        assert!(e.contains("offset 10"), "{e}");
        let e = read_npy(b"PK\x03\x04 not npy").unwrap_err().to_string();
        assert!(e.contains("magic"), "{e}");
        let f8 = npy_bytes(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
            &[0.0, 0.0],
        );
        let e = read_npy(&f8).unwrap_err().to_string();
        assert!(e.contains("<f8"), "{e}");
        let fortran = npy_bytes(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }",
            &[0.0],
        );
        let e = read_npy(&fortran).unwrap_err().to_string();
        assert!(e.contains("Fortran"), "{e}");
        // A shape that claims far more values than the file holds is refused, not allocated.
        let huge = npy_bytes(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (9999999999, 99), }",
            &[1.0],
        );
        let e = read_npy(&huge).unwrap_err().to_string();
        assert!(e.contains("9999999999"), "{e}");
        let overflow = npy_bytes(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551615, 2), }",
            &[],
        );
        let e = read_npy(&overflow).unwrap_err().to_string();
        assert!(e.contains("overflows"), "{e}");
        assert!(write_npy(&[2, 2], &[1.0]).is_err());
    }

    /// `np.save` of `np.array([[-128, 5, 127]], np.int8)` and of the same as uint8 codes.
    #[test]
    fn reads_int8_and_uint8_codes() {
        let i8s = |descr: &str| {
            let mut b = npy_bytes(
                &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (1, 3), }}"),
                &[],
            );
            b.extend_from_slice(&[0x80, 5, 127]);
            b
        };
        let t = read_npy_tensor(&i8s("|i1")).unwrap();
        assert_eq!(t.shape, vec![1, 3]);
        assert_eq!(t.data, NpyData::I8(vec![-128, 5, 127]));
        let t = read_npy_tensor(&i8s("|u1")).unwrap();
        assert_eq!(t.data, NpyData::U8(vec![128, 5, 127]));
        let t = read_npy_tensor(&numpy_bytes()).unwrap();
        assert_eq!(t.data, NpyData::F32(vec![1.5, -2.0, 0.25]));
        // The f32 reader names what it got; a short body names the dtype.
        let e = read_npy(&i8s("|i1")).unwrap_err().to_string();
        assert!(e.contains("|i1") && e.contains("<f4"), "{e}");
        let short = i8s("|u1");
        let e = read_npy_tensor(&short[..short.len() - 1])
            .unwrap_err()
            .to_string();
        assert!(e.contains("|u1") && e.contains("2 bytes"), "{e}");
        let e = read_npy_tensor(&i8s("<i2")).unwrap_err().to_string();
        assert!(e.contains("<i2"), "{e}");
    }
}
