package main

import (
	"github.com/schollz/progressbar/v3"

	"github.com/shoebox/shoebox/vault"
)

// progressBar returns a vault progress callback that draws a bar on the
// terminal (nothing when output is not a terminal), and a function that
// finishes it.
func (g *globals) progressBar(desc string) (func(vault.Progress), func()) {
	if !g.isTerminal() {
		return nil, func() {}
	}
	var bar *progressbar.ProgressBar
	update := func(p vault.Progress) {
		if bar == nil {
			bar = progressbar.NewOptions64(max(p.TotalBytes, 1),
				progressbar.OptionSetWriter(g.stderr),
				progressbar.OptionSetDescription(desc),
				progressbar.OptionShowBytes(true),
				progressbar.OptionUseIECUnits(true),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionShowCount(),
				progressbar.OptionThrottle(200e6),
				progressbar.OptionClearOnFinish(),
				progressbar.OptionFullWidth())
		}
		if p.TotalBytes > 0 && p.TotalBytes != bar.GetMax64() {
			bar.ChangeMax64(p.TotalBytes)
		}
		bar.Set64(p.Bytes)
	}
	return update, func() {
		if bar != nil {
			bar.Finish()
		}
	}
}
