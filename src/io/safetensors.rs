//! safetensors files of sepconv's built-in MobileNet V1.
//!
//! Tensor naming (all `F32`, little-endian; `N` is the block, 0 to 12; weights are in
//! sepconv's own OHWI layout, not PyTorch's OIHW):
//!
//! | tensor | shape |
//! | --- | --- |
//! | `conv0.weight` | `[C0, 3, 3, 3]` (out, kh, kw, in) |
//! | `conv0.bias` | `[C0]` |
//! | `blocks.N.dw.weight` | `[C, 3, 3, 1]` (depthwise: channel, kh, kw, 1) |
//! | `blocks.N.dw.bias` | `[C]` |
//! | `blocks.N.pw.weight` | `[C_out, 1, 1, C_in]` |
//! | `blocks.N.pw.bias` | `[C_out]` |
//! | `fc.weight` | `[classes, features]` |
//! | `fc.bias` | `[classes]` |
//!
//! A layer with an unfolded BatchNorm also has `<layer>.bn.gamma`, `.bn.beta`, `.bn.mean`
//! and `.bn.var` (each `[channels]`), e.g. `blocks.3.pw.bn.var`, and its epsilon in the
//! metadata as `<layer>.bn.eps`.
//!
//! The configuration is in the `__metadata__` header (all values are strings):
//! `format` = `sepconv.mobilenet_v1`, `version` = `1`, `alpha` (e.g. `0.25`), `resolution`,
//! `classes`, `activation` (`none`, `relu` or `relu6`), `padding` (`symmetric` or
//! `tf_same`) and `softmax` (`true` or `false`).
//!
//! Loading refuses missing, extra, mis-shaped or non-F32 tensors, naming the tensor.

use super::read_path;
use crate::activation::Activation;
use crate::net::{
    BatchNormParams, BlockWeights, ConvWeights, LayerKind, MobileNetConfig, MobileNetWeights,
    PaddingStyle,
};
use crate::{Error, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// The `format` metadata value of sepconv's files.
pub const FORMAT: &str = "sepconv.mobilenet_v1";

fn err(msg: impl std::fmt::Display) -> Error {
    Error::Model(format!("safetensors: {msg}"))
}

/// The name prefix of each convolution, in plan order.
fn conv_prefixes() -> Vec<String> {
    std::iter::once("conv0".to_string())
        .chain((0..13).flat_map(|n| [format!("blocks.{n}.dw"), format!("blocks.{n}.pw")]))
        .collect()
}

fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::None => "none",
        Activation::Relu => "relu",
        Activation::Relu6 => "relu6",
    }
}

fn padding_name(p: PaddingStyle) -> &'static str {
    match p {
        PaddingStyle::Symmetric => "symmetric",
        PaddingStyle::TfSame => "tf_same",
    }
}

/// Encodes `weights` and `config` as a safetensors file.
pub fn save_safetensors(config: &MobileNetConfig, weights: &MobileNetWeights) -> Result<Vec<u8>> {
    weights.validate(config)?;
    let layers = config.layers()?;
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut meta: BTreeMap<String, String> = BTreeMap::from([
        ("format".into(), FORMAT.into()),
        ("version".into(), "1".into()),
        ("alpha".into(), config.alpha.to_string()),
        ("resolution".into(), config.resolution.to_string()),
        ("classes".into(), config.classes.to_string()),
        (
            "activation".into(),
            activation_name(config.activation).into(),
        ),
        ("padding".into(), padding_name(config.padding).into()),
        ("softmax".into(), config.softmax.to_string()),
    ]);
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    for ((prefix, spec), conv) in conv_prefixes().iter().zip(&layers).zip(weights.convs()) {
        let k = if spec.kind == LayerKind::Pointwise {
            1
        } else {
            3
        };
        let i = if spec.kind == LayerKind::Depthwise {
            1
        } else {
            spec.in_c
        };
        tensors.push((
            format!("{prefix}.weight"),
            vec![spec.out_c, k, k, i],
            bytes(&conv.weights),
        ));
        tensors.push((
            format!("{prefix}.bias"),
            vec![spec.out_c],
            bytes(&conv.bias),
        ));
        if let Some(bn) = &conv.bn {
            for (what, v) in [
                ("gamma", &bn.gamma),
                ("beta", &bn.beta),
                ("mean", &bn.mean),
                ("var", &bn.var),
            ] {
                tensors.push((format!("{prefix}.bn.{what}"), vec![spec.out_c], bytes(v)));
            }
            meta.insert(format!("{prefix}.bn.eps"), bn.eps.to_string());
        }
    }
    tensors.push((
        "fc.weight".into(),
        vec![config.classes, config.feature_channels()],
        bytes(&weights.fc_weights),
    ));
    tensors.push((
        "fc.bias".into(),
        vec![config.classes],
        bytes(&weights.fc_bias),
    ));
    let views = tensors
        .iter()
        .map(|(name, shape, data)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data)
                .map(|v| (name.as_str(), v))
                .map_err(|e| err(format!("tensor '{name}': {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, Some(meta.into_iter().collect()))
        .map_err(|e| err(format!("cannot serialize: {e}")))
}

/// Writes `weights` and `config` to a safetensors file.
pub fn save_safetensors_file(
    path: impl AsRef<Path>,
    config: &MobileNetConfig,
    weights: &MobileNetWeights,
) -> Result<()> {
    let path = path.as_ref();
    std::fs::write(path, save_safetensors(config, weights)?).map_err(|e| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Loads a safetensors file written with the naming above.
pub fn load_safetensors(bytes: &[u8]) -> Result<(MobileNetConfig, MobileNetWeights)> {
    let (header_len, metadata) = SafeTensors::read_metadata(bytes)
        .map_err(|e| err(format!("bad header (first 8 bytes + JSON): {e}")))?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| err(format!("bad file: {e}")))?;
    let meta = metadata
        .metadata()
        .as_ref()
        .ok_or_else(|| err("no __metadata__ with the sepconv configuration"))?;
    let get = |key: &str| -> Result<&str> {
        meta.get(key)
            .map(String::as_str)
            .ok_or_else(|| err(format!("__metadata__ has no '{key}'")))
    };
    let parse_err = |key: &str, v: &str| err(format!("__metadata__ '{key}' = {v:?} is invalid"));
    if get("format")? != FORMAT {
        return Err(err(format!(
            "__metadata__ 'format' is {:?}, expected {FORMAT:?}",
            get("format")?
        )));
    }
    if get("version")? != "1" {
        return Err(parse_err("version", get("version")?));
    }
    let num = |key: &str| -> Result<usize> {
        let v = get(key)?;
        v.parse().map_err(|_| parse_err(key, v))
    };
    let alpha_text = get("alpha")?;
    let config = MobileNetConfig {
        alpha: alpha_text
            .parse()
            .map_err(|_| parse_err("alpha", alpha_text))?,
        resolution: num("resolution")?,
        classes: num("classes")?,
        activation: match get("activation")? {
            "none" => Activation::None,
            "relu" => Activation::Relu,
            "relu6" => Activation::Relu6,
            v => return Err(parse_err("activation", v)),
        },
        padding: match get("padding")? {
            "symmetric" => PaddingStyle::Symmetric,
            "tf_same" => PaddingStyle::TfSame,
            v => return Err(parse_err("padding", v)),
        },
        softmax: match get("softmax")? {
            "true" => true,
            "false" => false,
            v => return Err(parse_err("softmax", v)),
        },
    };
    config
        .validate()
        .map_err(|e| err(format!("__metadata__: {e}")))?;
    let layers = config.layers()?;

    let mut used: HashSet<String> = HashSet::new();
    let mut tensor = |name: String, shape: &[usize]| -> Result<Vec<f32>> {
        let view = st
            .tensor(&name)
            .map_err(|_| err(format!("tensor '{name}' is missing")))?;
        if view.dtype() != Dtype::F32 {
            return Err(err(format!(
                "tensor '{name}' is {:?}, expected F32",
                view.dtype()
            )));
        }
        if view.shape() != shape {
            return Err(err(format!(
                "tensor '{name}' has shape {:?}, expected {shape:?}",
                view.shape()
            )));
        }
        let data = view.data();
        let values: Vec<f32> = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            let offset = 8 + header_len + metadata.info(&name).map_or(0, |t| t.data_offsets.0);
            return Err(err(format!(
                "tensor '{name}' value {i} (byte offset {}) is not finite ({})",
                offset + 4 * i,
                values[i]
            )));
        }
        used.insert(name);
        Ok(values)
    };
    let mut convs = Vec::with_capacity(27);
    for (prefix, spec) in conv_prefixes().iter().zip(&layers) {
        let k = if spec.kind == LayerKind::Pointwise {
            1
        } else {
            3
        };
        let i = if spec.kind == LayerKind::Depthwise {
            1
        } else {
            spec.in_c
        };
        let c = spec.out_c;
        let weights = tensor(format!("{prefix}.weight"), &[c, k, k, i])?;
        let bias = tensor(format!("{prefix}.bias"), &[c])?;
        let eps_key = format!("{prefix}.bn.eps");
        let has_bn = ["gamma", "beta", "mean", "var"]
            .iter()
            .any(|w| st.names().iter().any(|n| **n == format!("{prefix}.bn.{w}")));
        let bn = if has_bn || meta.contains_key(&eps_key) {
            let eps_text = get(&eps_key)?;
            Some(BatchNormParams {
                gamma: tensor(format!("{prefix}.bn.gamma"), &[c])?,
                beta: tensor(format!("{prefix}.bn.beta"), &[c])?,
                mean: tensor(format!("{prefix}.bn.mean"), &[c])?,
                var: tensor(format!("{prefix}.bn.var"), &[c])?,
                eps: eps_text
                    .parse()
                    .map_err(|_| parse_err(&eps_key, eps_text))?,
            })
        } else {
            None
        };
        convs.push(ConvWeights { weights, bias, bn });
    }
    let fc_weights = tensor(
        "fc.weight".into(),
        &[config.classes, config.feature_channels()],
    )?;
    let fc_bias = tensor("fc.bias".into(), &[config.classes])?;
    if let Some(extra) = st.names().into_iter().find(|n| !used.contains(*n)) {
        return Err(err(format!(
            "tensor '{extra}' is not part of sepconv's MobileNet V1 naming"
        )));
    }
    let mut convs = convs.into_iter();
    let conv0 = convs.next().expect("27 layers");
    let mut blocks = Vec::with_capacity(13);
    while let (Some(dw), Some(pw)) = (convs.next(), convs.next()) {
        blocks.push(BlockWeights { dw, pw });
    }
    let weights = MobileNetWeights {
        conv0,
        blocks,
        fc_weights,
        fc_bias,
    };
    weights.validate(&config)?;
    Ok((config, weights))
}

/// Loads a safetensors file from disk.
pub fn load_safetensors_file(
    path: impl AsRef<Path>,
) -> Result<(MobileNetConfig, MobileNetWeights)> {
    load_safetensors(&read_path(path.as_ref())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;
    use std::collections::HashMap;

    fn sample() -> (MobileNetConfig, MobileNetWeights, Vec<u8>) {
        let config = MobileNetConfig {
            alpha: 0.25,
            resolution: 32,
            classes: 5,
            ..MobileNetConfig::default()
        };
        let weights = MobileNetWeights::random(&config, 3, true).unwrap();
        let bytes = save_safetensors(&config, &weights).unwrap();
        (config, weights, bytes)
    }

    type Entry = (String, Dtype, Vec<usize>, Vec<u8>);

    /// Re-encodes `bytes` after `edit` changed its tensors and metadata.
    fn rewrite(
        bytes: &[u8],
        edit: impl FnOnce(&mut Vec<Entry>, &mut HashMap<String, String>),
    ) -> Vec<u8> {
        let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
        let mut map: HashMap<String, String> = meta
            .metadata()
            .as_ref()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let st = SafeTensors::deserialize(bytes).unwrap();
        let mut entries: Vec<Entry> = st
            .tensors()
            .into_iter()
            .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
            .collect();
        edit(&mut entries, &mut map);
        let views: Vec<(String, TensorView)> = entries
            .iter()
            .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, Some(map.into_iter().collect())).unwrap()
    }

    fn error(bytes: &[u8]) -> String {
        load_safetensors(bytes).unwrap_err().to_string()
    }

    fn assert_names(msg: &str, parts: &[&str]) {
        for p in parts {
            assert!(msg.contains(p), "{msg:?} does not name {p:?}");
        }
    }

    #[test]
    fn round_trip_is_exact() {
        let (config, weights, bytes) = sample();
        assert_eq!(load_safetensors(&bytes).unwrap(), (config, weights));
    }

    #[test]
    fn bad_header_and_truncation() {
        let (_, _, bytes) = sample();
        let mut lying = bytes.clone();
        lying[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_names(&error(&lying), &["header"]);
        let mut not_json = bytes.clone();
        not_json[8] = b'[';
        assert_names(&error(&not_json), &["header"]);
        for cut in [0, 7, 20, bytes.len() - 1] {
            assert!(load_safetensors(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn missing_extra_and_misshapen_tensors() {
        let (_, _, bytes) = sample();
        let missing = rewrite(&bytes, |t, _| t.retain(|e| e.0 != "blocks.4.pw.weight"));
        assert_names(&error(&missing), &["blocks.4.pw.weight", "missing"]);
        let half_bn = rewrite(&bytes, |t, _| t.retain(|e| e.0 != "blocks.2.dw.bn.var"));
        assert_names(&error(&half_bn), &["blocks.2.dw.bn.var", "missing"]);
        let extra = rewrite(&bytes, |t, _| {
            t.push(("head.weight".into(), Dtype::F32, vec![1], vec![0; 4]))
        });
        assert_names(&error(&extra), &["head.weight", "not part"]);
        let shape = rewrite(&bytes, |t, _| {
            let e = t.iter_mut().find(|e| e.0 == "fc.weight").unwrap();
            e.2 = vec![e.2[1], e.2[0]];
        });
        assert_names(&error(&shape), &["fc.weight", "shape"]);
        let dtype = rewrite(&bytes, |t, _| {
            let e = t.iter_mut().find(|e| e.0 == "fc.bias").unwrap();
            e.1 = Dtype::I32;
        });
        assert_names(&error(&dtype), &["fc.bias", "I32"]);
    }

    #[test]
    fn non_finite_value_names_tensor_and_byte_offset() {
        let (_, _, bytes) = sample();
        let nan = rewrite(&bytes, |t, _| {
            let e = t.iter_mut().find(|e| e.0 == "conv0.bias").unwrap();
            e.3[4..8].copy_from_slice(&f32::INFINITY.to_le_bytes());
        });
        let msg = error(&nan);
        assert_names(&msg, &["conv0.bias", "value 1", "byte offset"]);
        // The named offset holds the bad value.
        let offset: usize = msg
            .split("byte offset ")
            .nth(1)
            .unwrap()
            .split(')')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(nan[offset..offset + 4], f32::INFINITY.to_le_bytes());
    }

    #[test]
    fn bad_metadata() {
        let (_, _, bytes) = sample();
        let alpha = rewrite(&bytes, |_, m| {
            m.insert("alpha".into(), "wide".into());
        });
        assert_names(&error(&alpha), &["alpha", "wide"]);
        let format = rewrite(&bytes, |_, m| {
            m.remove("format");
        });
        assert_names(&error(&format), &["format"]);
        let act = rewrite(&bytes, |_, m| {
            m.insert("activation".into(), "gelu".into());
        });
        assert_names(&error(&act), &["activation", "gelu"]);
        let classes = rewrite(&bytes, |_, m| {
            m.insert("classes".into(), "6".into());
        });
        assert_names(&error(&classes), &["fc.weight", "shape"]);
    }
}
