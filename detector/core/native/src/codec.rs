//! The little-endian byte layout of the compiled state's snapshots (pickled by Python as `bytes`).
//!
//! A reader never panics on damaged input: every read checks the length and says what is wrong.

pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new(format: u8) -> Self {
        Writer { buf: vec![format] }
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bool(&mut self, v: bool) {
        self.buf.push(v as u8);
    }

    pub fn str(&mut self, v: &str) {
        self.u64(v.len() as u64);
        self.buf.extend_from_slice(v.as_bytes());
    }

    pub fn opt_str(&mut self, v: Option<&str>) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.str(v);
        }
    }

    pub fn opt_f64(&mut self, v: Option<f64>) {
        self.bool(v.is_some());
        self.f64(v.unwrap_or(0.0));
    }

    pub fn opt_i64(&mut self, v: Option<i64>) {
        self.bool(v.is_some());
        self.u64(v.unwrap_or(0) as u64);
    }
}

pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// What is being read, for the error messages ("graph", "engine").
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader past the format byte, which must be `format`.
    pub fn new(bytes: &'a [u8], what: &'static str, format: u8) -> Result<Self, String> {
        let mut r = Reader { bytes, at: 0, what };
        let found = r.byte()?;
        if found != format {
            return Err(format!(
                "{what} state of format {found}: this build reads only format {format}"
            ));
        }
        Ok(r)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| format!("{} state is truncated", self.what))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    pub fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    pub fn bool(&mut self) -> Result<bool, String> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(format!("{} state has a flag of {other}", self.what)),
        }
    }

    pub fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    /// A count of items still to read: never more than the bytes left, so a damaged count cannot reserve memory
    /// it does not describe.
    pub fn len(&mut self) -> Result<usize, String> {
        let n = self.u64()?;
        if n > (self.bytes.len() - self.at) as u64 {
            return Err(format!("{} state is truncated", self.what));
        }
        Ok(n as usize)
    }

    pub fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    pub fn str(&mut self) -> Result<&'a str, String> {
        let n = self.len()?;
        std::str::from_utf8(self.take(n)?).map_err(|e| format!("{} state: {e}", self.what))
    }

    pub fn opt_str(&mut self) -> Result<Option<&'a str>, String> {
        Ok(if self.bool()? { Some(self.str()?) } else { None })
    }

    pub fn opt_f64(&mut self) -> Result<Option<f64>, String> {
        let some = self.bool()?;
        let v = self.f64()?;
        Ok(some.then_some(v))
    }

    pub fn opt_i64(&mut self) -> Result<Option<i64>, String> {
        let some = self.bool()?;
        let v = self.u64()? as i64;
        Ok(some.then_some(v))
    }

    /// Fails unless every byte was read.
    pub fn finish(self) -> Result<(), String> {
        if self.at != self.bytes.len() {
            return Err(format!("{} state has trailing bytes", self.what));
        }
        Ok(())
    }
}
