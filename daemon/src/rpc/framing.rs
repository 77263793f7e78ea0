use std::io::{self, BufRead};

/// Longest request line accepted; longer lines are skipped whole and answered with an error.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One newline-terminated line from the client.
#[derive(Debug, PartialEq)]
pub enum ReadLine {
    Line(Vec<u8>),
    /// The line was longer than the limit; its bytes were discarded up to the newline.
    TooLong,
    Eof,
}

/// Reads newline-delimited lines with a hard length cap, so a huge or binary line can
/// neither exhaust memory nor desynchronise the replies to the lines after it.
pub struct LineReader<R> {
    inner: R,
    limit: usize,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_limit(inner, MAX_LINE_BYTES)
    }

    pub fn with_limit(inner: R, limit: usize) -> Self {
        LineReader { inner, limit }
    }

    pub fn read_line(&mut self) -> io::Result<ReadLine> {
        let mut line = Vec::new();
        let mut overflowed = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                // EOF: a final unterminated line still counts as a line.
                return Ok(match (overflowed, line.is_empty()) {
                    (true, _) => ReadLine::TooLong,
                    (false, true) => ReadLine::Eof,
                    (false, false) => ReadLine::Line(line),
                });
            }
            let (taken, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let content = &chunk[..if done { taken - 1 } else { taken }];
            if !overflowed && line.len() + content.len() <= self.limit {
                line.extend_from_slice(content);
            } else {
                overflowed = true;
                line.clear();
            }
            self.inner.consume(taken);
            if done {
                return Ok(if overflowed {
                    ReadLine::TooLong
                } else {
                    ReadLine::Line(line)
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_caps_length() {
        let input: &[u8] = b"{\"a\":1}\nxxxxxxxxxxxxxxxxxxxx\nok\r\nlast";
        let mut reader = LineReader::with_limit(io::BufReader::with_capacity(4, input), 10);
        assert_eq!(reader.read_line().unwrap(), ReadLine::Line(b"{\"a\":1}".to_vec()));
        assert_eq!(reader.read_line().unwrap(), ReadLine::TooLong);
        assert_eq!(reader.read_line().unwrap(), ReadLine::Line(b"ok\r".to_vec()));
        assert_eq!(reader.read_line().unwrap(), ReadLine::Line(b"last".to_vec()));
        assert_eq!(reader.read_line().unwrap(), ReadLine::Eof);
    }
}
