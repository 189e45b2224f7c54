package main

import (
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/lmittmann/tint"

	"github.com/patientlink/patientlink/internal/config"
)

// newLogger logs coloured text to a terminal and JSON to anything else.
func newLogger(w io.Writer, cfg config.Log) *slog.Logger {
	format := cfg.Format
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Level))
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(tint.NewTextHandler(w, &tint.Options{Level: lvl, TimeFormat: time.TimeOnly}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}
