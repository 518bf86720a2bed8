//! A subgraph's tensors: names for errors, shapes, and constant data from the model's
//! buffers (inside the flatbuffer, or past its end for the >2 GB layout), every index and
//! byte range checked.

use super::schema::{self, tensor_type, Buffer, SubGraph, Tensor};
use crate::quant::QParams;
use crate::{Error, Result};
use flatbuffers::{ForwardsUOffset, Vector};

/// Largest constant the lowering decodes (elements): far above any MobileNet layer.
const MAX_ELEMENTS: usize = 1 << 28;

pub(crate) fn err(msg: impl std::fmt::Display) -> Error {
    Error::Model(format!("TFLite: {msg}"))
}

/// A decoded constant.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Const<T> {
    pub dims: Vec<usize>,
    pub data: Vec<T>,
}

/// The tensors and buffers of subgraph 0, with the file they came from.
pub(crate) struct Tensors<'a> {
    file: &'a [u8],
    tensors: Vector<'a, ForwardsUOffset<Tensor<'a>>>,
    buffers: Option<Vector<'a, ForwardsUOffset<Buffer<'a>>>>,
}

impl<'a> Tensors<'a> {
    pub fn new(file: &'a [u8], model: schema::Model<'a>, sg: SubGraph<'a>) -> Result<Self> {
        let tensors = sg
            .tensors()
            .ok_or_else(|| err("subgraph 0 has no tensors"))?;
        Ok(Tensors {
            file,
            tensors,
            buffers: model.buffers(),
        })
    }

    /// Tensor `index`, or an error saying who referred to it.
    pub fn get(&self, index: i32, whose: impl FnOnce() -> String) -> Result<Tensor<'a>> {
        usize::try_from(index)
            .ok()
            .filter(|&i| i < self.tensors.len())
            .map(|i| self.tensors.get(i))
            .ok_or_else(|| {
                err(format!(
                    "{}: tensor index {index} is out of range (the subgraph has {} tensors)",
                    whose(),
                    self.tensors.len()
                ))
            })
    }

    /// The tensor's name ("tensor 12" if it has none).
    pub fn name(&self, index: i32) -> String {
        let named = usize::try_from(index)
            .ok()
            .filter(|&i| i < self.tensors.len())
            .and_then(|i| self.tensors.get(i).name())
            .filter(|n| !n.is_empty());
        match named {
            Some(n) => n.to_string(),
            None => format!("tensor {index}"),
        }
    }

    /// "tensor 'NAME'", the prefix of errors about one.
    pub fn label(&self, index: i32) -> String {
        format!("tensor '{}'", self.name(index))
    }

    /// The bytes of the tensor's buffer (empty for activations).
    pub fn data(&self, index: i32) -> Result<&'a [u8]> {
        let t = self.get(index, || self.label(index))?;
        let b = t.buffer() as usize;
        if b == 0 {
            return Ok(&[]);
        }
        let buffer = self
            .buffers
            .filter(|bufs| b < bufs.len())
            .map(|bufs| bufs.get(b))
            .ok_or_else(|| {
                err(format!(
                    "{}: buffer index {b} is out of range (the model has {} buffers)",
                    self.label(index),
                    self.buffers.map_or(0, |bufs| bufs.len())
                ))
            })?;
        let inline = buffer.data().map_or(&[][..], |d| d.bytes());
        // offset/size (valid when offset > 1) place the data after the flatbuffer, from
        // the start of the file.
        if buffer.offset() > 1 {
            if !inline.is_empty() {
                return Err(err(format!(
                    "{}: buffer {b} has both inline data and an offset",
                    self.label(index)
                )));
            }
            let start = usize::try_from(buffer.offset()).ok();
            let end = usize::try_from(buffer.size())
                .ok()
                .zip(start)
                .and_then(|(size, start)| start.checked_add(size));
            return match (start, end) {
                (Some(s), Some(e)) if e <= self.file.len() => Ok(&self.file[s..e]),
                _ => Err(err(format!(
                    "{}: buffer {b} lies at bytes {}..+{} past the end of the {}-byte file",
                    self.label(index),
                    buffer.offset(),
                    buffer.size(),
                    self.file.len()
                ))),
            };
        }
        Ok(inline)
    }

    /// Whether the tensor holds constant data.
    pub fn is_const(&self, index: i32) -> Result<bool> {
        Ok(!self.data(index)?.is_empty())
    }

    /// The tensor's shape as given (may hold -1 in older files).
    pub fn shape(&self, index: i32) -> Result<Vec<i32>> {
        let t = self.get(index, || self.label(index))?;
        Ok(t.shape().map(|s| s.iter().collect()).unwrap_or_default())
    }

    /// The shape as sizes: every dim must be a known size.
    pub fn dims(&self, index: i32) -> Result<Vec<usize>> {
        self.shape(index)?
            .iter()
            .map(|&d| {
                usize::try_from(d).map_err(|_| {
                    err(format!(
                        "{}: dimension {d} in shape {:?}",
                        self.label(index),
                        self.shape(index).unwrap_or_default()
                    ))
                })
            })
            .collect()
    }

    /// The tensor's `shape_signature` if it has one.
    pub fn signature(&self, index: i32) -> Result<Option<Vec<i32>>> {
        let t = self.get(index, || self.label(index))?;
        Ok(t.shape_signature().map(|s| s.iter().collect()))
    }

    /// Refuses a tensor that is not float32, or that carries quantization parameters.
    pub fn check_f32(&self, index: i32, role: &str) -> Result<()> {
        let t = self.get(index, || self.label(index))?;
        let ty = t.tensor_type();
        if ty != tensor_type::FLOAT32 {
            let why = match ty {
                tensor_type::INT8 | tensor_type::UINT8 | tensor_type::INT16 => {
                    "quantized models are not supported yet"
                }
                _ => "only float32 models are supported",
            };
            return Err(err(format!(
                "{role} {} is {}: {why}",
                self.label(index),
                tensor_type::name(ty)
            )));
        }
        if let Some(q) = t.quantization() {
            let quantized = q.scale().is_some_and(|s| !s.is_empty())
                || q.zero_point().is_some_and(|z| !z.is_empty());
            if quantized {
                return Err(err(format!(
                    "{role} {} has quantization parameters: quantized tensors are not \
                     supported yet",
                    self.label(index)
                )));
            }
        }
        Ok(())
    }

    /// The tensor's scales, zero points and axis (empty when it has none).
    fn quantization(&self, index: i32) -> Result<(Vec<f32>, Vec<i64>, i32)> {
        let t = self.get(index, || self.label(index))?;
        Ok(match t.quantization() {
            Some(q) => (
                q.scale().map(|v| v.iter().collect()).unwrap_or_default(),
                q.zero_point()
                    .map(|v| v.iter().collect())
                    .unwrap_or_default(),
                q.quantized_dimension(),
            ),
            None => (Vec::new(), Vec::new(), 0),
        })
    }

    /// A data-path tensor: float32 without quantization (`None`), or int8 / uint8 with
    /// one scale and zero point, as sepconv's u8 grid (an int8 zero point plus 128).
    pub fn data_q(&self, index: i32, role: &str) -> Result<Option<QParams>> {
        let t = self.get(index, || self.label(index))?;
        let ty = t.tensor_type();
        let (scales, zps, _) = self.quantization(index)?;
        let label = format!("{role} {}", self.label(index));
        let (lo, hi, shift) = match ty {
            tensor_type::FLOAT32 => {
                if !scales.is_empty() || !zps.is_empty() {
                    return Err(err(format!(
                        "{label} is FLOAT32 with quantization parameters"
                    )));
                }
                return Ok(None);
            }
            tensor_type::INT8 => (-128, 127, 128),
            tensor_type::UINT8 => (0, 255, 0),
            other => {
                return Err(err(format!(
                    "{label} is {}: only float32, int8 and uint8 tensors are supported",
                    tensor_type::name(other)
                )))
            }
        };
        let (&[scale], zps) = (scales.as_slice(), zps.as_slice()) else {
            return Err(err(format!(
                "{label} is {} with {} scales: an activation needs exactly one",
                tensor_type::name(ty),
                scales.len()
            )));
        };
        let zp = match zps {
            [] => 0,
            [z] => *z,
            _ => {
                return Err(err(format!(
                    "{label} has {} zero points: an activation needs one",
                    zps.len()
                )))
            }
        };
        if !(lo..=hi).contains(&zp) {
            return Err(err(format!(
                "{label}: zero point {zp} is outside the {} range {lo}..={hi}",
                tensor_type::name(ty)
            )));
        }
        QParams::new(scale, zp as i32 + shift, &label)
            .map(Some)
            .map_err(|e| match e {
                Error::Model(m) => err(m),
                e => e,
            })
    }

    /// Quantized weights as s8 with one scale per output channel along `axis` (`out_c`
    /// of them; a per-tensor scale is repeated). The zero points must be 0 (int8) or
    /// bring every uint8 value into the s8 range.
    pub fn const_q8(
        &self,
        index: i32,
        role: &str,
        axis: usize,
        out_c: usize,
    ) -> Result<(Vec<i8>, Vec<f32>)> {
        let t = self.get(index, || self.label(index))?;
        let label = format!("{role} {}", self.label(index));
        let (dims, count) = self.dims_count(index)?;
        let raw = self.raw(index, count, 1)?;
        let (scales, zps, qdim) = self.quantization(index)?;
        if scales.is_empty() {
            return Err(err(format!("{label} is quantized but has no scales")));
        }
        if let Some((c, s)) = scales
            .iter()
            .enumerate()
            .find(|(_, s)| !(s.is_finite() && **s > 0.0))
        {
            return Err(err(format!(
                "{label}: scale {s} (channel {c}) must be finite and positive"
            )));
        }
        if scales.len() != 1 && (scales.len() != out_c || qdim as usize != axis || qdim < 0) {
            return Err(err(format!(
                "{label}: {} scales along axis {qdim} of dims {dims:?}, expected 1 or {out_c}                  along axis {axis}",
                scales.len()
            )));
        }
        if !zps.is_empty() && zps.len() != scales.len() {
            return Err(err(format!(
                "{label}: {} zero points for {} scales",
                zps.len(),
                scales.len()
            )));
        }
        let scale = if scales.len() == 1 {
            vec![scales[0]; out_c]
        } else {
            scales
        };
        let zp = |c: usize| {
            zps.get(if zps.len() == 1 { 0 } else { c })
                .copied()
                .unwrap_or(0)
        };
        // The channel of element i along `axis`.
        let inner: usize = dims.iter().skip(axis + 1).product();
        let channel = |i: usize| (i / inner.max(1)) % out_c.max(1);
        let weights = match t.tensor_type() {
            tensor_type::INT8 => {
                if let Some(z) = zps.iter().find(|&&z| z != 0) {
                    return Err(err(format!(
                        "{label}: weight zero point {z}: only symmetric (zero point 0) int8 \
                         weights are supported"
                    )));
                }
                raw.iter().map(|&b| b as i8).collect()
            }
            tensor_type::UINT8 => raw
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    let v = i64::from(b) - zp(channel(i));
                    i8::try_from(v).map_err(|_| {
                        err(format!(
                            "{label}: uint8 weight {b} minus zero point {} does not fit int8",
                            zp(channel(i))
                        ))
                    })
                })
                .collect::<Result<_>>()?,
            other => {
                return Err(err(format!(
                    "{label} is {}, expected INT8 or UINT8 weights",
                    tensor_type::name(other)
                )))
            }
        };
        Ok((weights, scale))
    }

    /// An int32 constant (a quantized bias).
    pub fn const_i32(&self, index: i32, role: &str) -> Result<Const<i32>> {
        let t = self.get(index, || self.label(index))?;
        if t.tensor_type() != tensor_type::INT32 {
            return Err(err(format!(
                "{role} {} is {}, expected INT32",
                self.label(index),
                tensor_type::name(t.tensor_type())
            )));
        }
        let (dims, count) = self.dims_count(index)?;
        let data = self
            .raw(index, count, 4)?
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Const { dims, data })
    }

    /// The element type of a tensor.
    pub fn tensor_type(&self, index: i32) -> Result<i8> {
        Ok(self.get(index, || self.label(index))?.tensor_type())
    }

    fn dims_count(&self, index: i32) -> Result<(Vec<usize>, usize)> {
        let dims = self.dims(index)?;
        let count = dims
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| {
                err(format!(
                    "{}: dims {dims:?} are too large",
                    self.label(index)
                ))
            })?;
        Ok((dims, count))
    }

    fn raw(&self, index: i32, count: usize, width: usize) -> Result<&'a [u8]> {
        let data = self.data(index)?;
        if data.len() != count * width {
            return Err(err(format!(
                "{}: its buffer holds {} bytes, shape {:?} needs {}",
                self.label(index),
                data.len(),
                self.shape(index)?,
                count * width
            )));
        }
        Ok(data)
    }

    /// A float32 constant (weights, biases, operands).
    pub fn const_f32(&self, index: i32, role: &str) -> Result<Const<f32>> {
        self.check_f32(index, role)?;
        let (dims, count) = self.dims_count(index)?;
        let data: Vec<f32> = self
            .raw(index, count, 4)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            return Err(err(format!(
                "{} {}: value {i} is not finite ({})",
                role,
                self.label(index),
                data[i]
            )));
        }
        Ok(Const { dims, data })
    }

    /// An int32 or int64 constant (shapes, axes, paddings).
    pub fn const_ints(&self, index: i32, role: &str) -> Result<Const<i64>> {
        let t = self.get(index, || self.label(index))?;
        let (dims, count) = self.dims_count(index)?;
        let data = match t.tensor_type() {
            tensor_type::INT32 => self
                .raw(index, count, 4)?
                .chunks_exact(4)
                .map(|b| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect(),
            tensor_type::INT64 => self
                .raw(index, count, 8)?
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect(),
            other => {
                return Err(err(format!(
                    "{role} {} is {}, expected INT32 or INT64",
                    self.label(index),
                    tensor_type::name(other)
                )))
            }
        };
        Ok(Const { dims, data })
    }
}
