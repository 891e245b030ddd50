package gossip

import (
	"bytes"
	"context"
	"log/slog"
)

// slogWriter turns memberlist's log.Logger lines into debug records.
// memberlist never logs key material.
type slogWriter struct{ logger *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	if w.logger.Enabled(context.Background(), slog.LevelDebug) {
		w.logger.Debug(string(bytes.TrimSpace(p)), "component", "memberlist")
	}
	return len(p), nil
}
