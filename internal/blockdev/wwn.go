package blockdev

import "strings"

// NormalizeWWN writes an NAA name as the by-id links do ("naa.5000C500…"
// becomes "0x5000c500…") and drops wwids that are no WWN at all (the
// "t10.ATA MODEL SERIAL" that libata makes up). Other names ("eui.…",
// "nvme.…") come back lowercase, as given.
func NormalizeWWN(w string) string {
	w = strings.ToLower(strings.TrimSpace(w))
	switch {
	case w == "", strings.HasPrefix(w, "t10."):
		return ""
	case strings.HasPrefix(w, "naa."):
		return "0x" + strings.TrimPrefix(w, "naa.")
	}
	return w
}

// Identity names a physical drive as far as the kernel tells. Two paths
// with the same non-empty Serial live on the same drive.
type Identity struct {
	Serial string // "loop:<backing file>" for a loop device
	WWN    string // "0x…" for NAA names (lowercase), "eui.…" and the like as given
	Model  string
}
