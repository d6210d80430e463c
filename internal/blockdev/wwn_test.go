package blockdev

import "testing"

func TestNormalizeWWN(t *testing.T) {
	for in, want := range map[string]string{
		"naa.5000C500B1234567\n": "0x5000c500b1234567",
		"0x50014EE2B1234567":     "0x50014ee2b1234567",
		"eui.0025388B91B3C5A1":   "eui.0025388b91b3c5a1",
		"nvme.8086-5048":         "nvme.8086-5048",
		"t10.ATA     WDC WD40EFRX-68N32N0                    WD-WCC7K1234567": "",
		"  ": "",
	} {
		if got := NormalizeWWN(in); got != want {
			t.Errorf("NormalizeWWN(%q): got %q, want %q", in, got, want)
		}
	}
}
