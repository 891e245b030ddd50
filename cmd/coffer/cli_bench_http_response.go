package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// benchResponse is what the bench client keeps of a response's head.
type benchResponse struct {
	status int
	close  bool // the server closes the connection after this response
}

// benchHead is a parsed status line and header.
type benchHead struct {
	minor   int   // HTTP/1.minor
	status  int   // status code
	length  int64 // Content-Length, or -1 for none
	chunked bool  // Transfer-Encoding: chunked
	close   bool  // Connection: close, or HTTP/1.0 without keep-alive
}

var (
	benchContentLength    = []byte("Content-Length")
	benchTransferEncoding = []byte("Transfer-Encoding")
	benchConnection       = []byte("Connection")
)

// readBenchResponse reads one response from r into resp, its body into buf
// (appended). It skips interim (1xx) responses, and rejects a malformed or
// oversized one: lines over benchMaxLine, a header section over
// benchMaxHeader, a body over benchMaxBody. line is scratch space for
// lines longer than r's buffer.
func readBenchResponse(r *bufio.Reader, line *[]byte, resp *benchResponse, buf *bytes.Buffer) error {
	for interim := 0; ; interim++ {
		var h benchHead
		if err := readBenchHead(r, line, &h); err != nil {
			return err
		}
		if h.status < 200 {
			if h.status == 101 {
				return fmt.Errorf("%w: unrequested protocol switch", errBenchMalformed)
			}
			if interim == benchMax1xx {
				return fmt.Errorf("%w: more than %d interim responses", errBenchMalformed, benchMax1xx)
			}
			continue
		}
		*resp = benchResponse{status: h.status, close: h.close}
		switch {
		case h.status == 204 || h.status == 304:
			return nil
		case h.chunked:
			return readBenchChunked(r, line, buf)
		case h.length >= 0:
			return readBenchBody(r, h.length, buf)
		default:
			resp.close = true // the body ends with the connection
			return readBenchUntilEOF(r, buf)
		}
	}
}

// readBenchHead reads a status line and header section.
func readBenchHead(r *bufio.Reader, line *[]byte, h *benchHead) error {
	s, err := readBenchLine(r, line)
	if err != nil {
		return fmt.Errorf("status line: %w", err)
	}
	minor, status, ok := parseBenchStatusLine(s)
	if !ok {
		return fmt.Errorf("%w: bad status line", errBenchMalformed)
	}
	*h = benchHead{minor: minor, status: status, length: -1}
	keepAlive := false
	total := len(s)
	for {
		s, err := readBenchLine(r, line)
		if err != nil {
			return fmt.Errorf("header: %w", err)
		}
		if len(s) == 0 {
			break
		}
		if total += len(s); total > benchMaxHeader {
			return fmt.Errorf("%w: header over %d bytes", errBenchTooLarge, benchMaxHeader)
		}
		name, value, ok := parseBenchField(s)
		if !ok {
			return fmt.Errorf("%w: bad header line", errBenchMalformed)
		}
		switch {
		case bytes.EqualFold(name, benchContentLength):
			n, ok := parseBenchLength(value)
			if !ok || (h.length >= 0 && h.length != n) {
				return fmt.Errorf("%w: bad Content-Length", errBenchMalformed)
			}
			h.length = n
		case bytes.EqualFold(name, benchTransferEncoding):
			if h.chunked || !bytes.EqualFold(value, []byte("chunked")) {
				return fmt.Errorf("%w: unsupported Transfer-Encoding", errBenchMalformed)
			}
			h.chunked = true
		case bytes.EqualFold(name, benchConnection):
			for opt := range bytes.SplitSeq(value, []byte(",")) {
				opt = bytes.Trim(opt, " \t")
				h.close = h.close || bytes.EqualFold(opt, []byte("close"))
				keepAlive = keepAlive || bytes.EqualFold(opt, []byte("keep-alive"))
			}
		}
	}
	if h.chunked && (h.length >= 0 || h.minor == 0) {
		return fmt.Errorf("%w: Transfer-Encoding with Content-Length or in HTTP/1.0", errBenchMalformed)
	}
	if h.minor == 0 && !keepAlive {
		h.close = true
	}
	return nil
}

// readBenchLine reads a line ending in LF or CRLF, without the ending. The
// result is valid until the next read from r or use of line.
func readBenchLine(r *bufio.Reader, line *[]byte) ([]byte, error) {
	s, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		b := append((*line)[:0], s...)
		for err == bufio.ErrBufferFull && len(b) <= benchMaxLine+1 {
			s, err = r.ReadSlice('\n')
			b = append(b, s...)
		}
		*line, s = b, b
	}
	if err == bufio.ErrBufferFull || len(s) > benchMaxLine+2 {
		return nil, fmt.Errorf("%w: line over %d bytes", errBenchTooLarge, benchMaxLine)
	}
	if err == io.EOF {
		return nil, io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	s = s[:len(s)-1]
	if n := len(s); n > 0 && s[n-1] == '\r' {
		s = s[:n-1]
	}
	return s, nil
}

// parseBenchStatusLine parses "HTTP/1.x NNN[ reason]".
func parseBenchStatusLine(s []byte) (minor, status int, ok bool) {
	if len(s) < 12 || string(s[:7]) != "HTTP/1." || (s[7] != '0' && s[7] != '1') || s[8] != ' ' {
		return 0, 0, false
	}
	if len(s) > 12 && (s[12] != ' ' || !benchFieldValue(s[13:])) {
		return 0, 0, false
	}
	for _, c := range s[9:12] {
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 {
		return 0, 0, false
	}
	return int(s[7] - '0'), status, true
}

// parseBenchField splits a header or trailer line into its name and its
// value without surrounding spaces; ok is false if it is malformed.
func parseBenchField(s []byte) (name, value []byte, ok bool) {
	name, value, ok = bytes.Cut(s, []byte(":"))
	if !ok || len(name) == 0 || !benchFieldValue(value) {
		return nil, nil, false
	}
	for _, c := range name {
		if !benchTokenChar(c) {
			return nil, nil, false
		}
	}
	return name, bytes.Trim(value, " \t"), true
}

// benchTokenChar reports whether c may appear in a header name (RFC 9110 tchar).
func benchTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return c < 0x80 && bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}

// benchFieldValue reports whether s has no control character but tab.
func benchFieldValue(s []byte) bool {
	for _, c := range s {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// parseBenchLength parses a Content-Length value; larger ones than
// benchMaxBody come out as benchMaxBody+1.
func parseBenchLength(s []byte) (int64, bool) {
	if len(s) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = min(n*10+int64(c-'0'), benchMaxBody+1)
	}
	return n, true
}

// readBenchBody appends the next n bytes of r to buf, making room as the
// bytes arrive rather than trusting n.
func readBenchBody(r *bufio.Reader, n int64, buf *bytes.Buffer) error {
	if int64(buf.Len())+n > benchMaxBody {
		return fmt.Errorf("%w: body over %d bytes", errBenchTooLarge, benchMaxBody)
	}
	for n > 0 {
		step := min(n, 64<<10)
		buf.Grow(int(step))
		b := buf.AvailableBuffer()[:step]
		if _, err := io.ReadFull(r, b); err != nil {
			clear(b)
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("body: %w", err)
		}
		buf.Write(b)
		n -= step
	}
	return nil
}

// readBenchUntilEOF appends the rest of r to buf: the body of a response
// with neither Content-Length nor chunked encoding.
func readBenchUntilEOF(r *bufio.Reader, buf *bytes.Buffer) error {
	room := benchMaxBody - int64(buf.Len())
	if _, err := buf.ReadFrom(io.LimitReader(r, room+1)); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	if int64(buf.Len()) > benchMaxBody {
		return fmt.Errorf("%w: body over %d bytes", errBenchTooLarge, benchMaxBody)
	}
	return nil
}

// readBenchChunked appends a chunked body to buf and reads its trailers.
func readBenchChunked(r *bufio.Reader, line *[]byte, buf *bytes.Buffer) error {
	for {
		s, err := readBenchLine(r, line)
		if err != nil {
			return fmt.Errorf("chunk size: %w", err)
		}
		if i := bytes.IndexByte(s, ';'); i >= 0 {
			s = s[:i] // chunk extensions
		}
		n, ok := parseBenchHex(bytes.TrimRight(s, " \t"))
		if !ok {
			return fmt.Errorf("%w: bad chunk size", errBenchMalformed)
		}
		if n == 0 {
			return readBenchTrailers(r, line)
		}
		if err := readBenchBody(r, n, buf); err != nil {
			return err
		}
		c, err := r.ReadByte()
		if err == nil && c == '\r' {
			c, err = r.ReadByte()
		}
		if err != nil || c != '\n' {
			return fmt.Errorf("%w: chunk not followed by CRLF", errBenchMalformed)
		}
	}
}

// parseBenchHex parses a chunk size: 1 to 15 hex digits.
func parseBenchHex(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | int64(c)
	}
	return n, true
}

// readBenchTrailers reads and drops the trailer section after the last chunk.
func readBenchTrailers(r *bufio.Reader, line *[]byte) error {
	total := 0
	for {
		s, err := readBenchLine(r, line)
		if err != nil {
			return fmt.Errorf("trailer: %w", err)
		}
		if len(s) == 0 {
			return nil
		}
		if total += len(s); total > benchMaxHeader {
			return fmt.Errorf("%w: trailers over %d bytes", errBenchTooLarge, benchMaxHeader)
		}
		if _, _, ok := parseBenchField(s); !ok {
			return fmt.Errorf("%w: bad trailer line", errBenchMalformed)
		}
	}
}
