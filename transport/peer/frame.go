package peer

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
)

// Gossip wire format, after the TLS handshake on ALPN ProtoGossip:
//
//	marker    1 byte: markerPacket or markerStream
//	stream:   memberlist's own bytes follow
//	packet:   hello = uint16 BE length (1..maxHelloLen) + sender advertise
//	          address "ip:port"; then frames = uint32 BE length
//	          (1..maxFrameLen) + payload, one memberlist packet each
const (
	markerPacket byte = 'P'
	markerStream byte = 'S'

	maxFrameLen = 64 << 10
	maxHelloLen = 128
)

// writeFrame writes payload as one length-prefixed frame with a single
// Write, so one frame is one TLS record where it fits.
func writeFrame(w io.Writer, payload []byte) error {
	if len(payload) == 0 || len(payload) > maxFrameLen {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(payload))
	}
	buf := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[4:], payload)
	_, err := w.Write(buf)
	return err
}

// readFrame reads one frame into a fresh buffer.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return nil, ErrBadFrame
	}
	if n > maxFrameLen {
		return nil, ErrFrameTooLarge
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("peer: read frame: %w", io.ErrUnexpectedEOF)
	}
	return buf, nil
}

// encodeHello returns the marker and hello that open a packet connection.
func encodeHello(from netip.AddrPort) []byte {
	s := from.String()
	buf := make([]byte, 0, 3+len(s))
	buf = append(buf, markerPacket)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(s)))
	return append(buf, s...)
}

// readHello reads the hello that follows markerPacket.
func readHello(r io.Reader) (*net.TCPAddr, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint16(hdr[:])
	if n == 0 || n > maxHelloLen {
		return nil, ErrBadFrame
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	ap, err := netip.ParseAddrPort(string(buf))
	if err != nil || !ap.IsValid() || ap.Port() == 0 {
		return nil, ErrBadFrame
	}
	return net.TCPAddrFromAddrPort(ap), nil
}
