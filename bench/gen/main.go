// Command gen writes the reproducible data set used by `make bench`.
//
// The set looks like a photographer's NAS share: mostly incompressible media
// files (JPG/RAW/MP4, 2–30 MiB) in date folders, about 10% of the bytes as
// exact duplicates under other names and folders, and a few thousand small,
// compressible XMP sidecar files. Everything (names, sizes, bytes, mtimes,
// modes) is a pure function of -seed and -size, so two runs produce identical
// trees byte for byte.
//
// With -mutate, it changes about 5% of an existing set in place,
// deterministically (again a function of -seed and the set's contents): it
// appends to some media files, overwrites a range in the middle of others,
// deletes a few, adds a few new ones and edits or touches some sidecars.
//
//	go run ./bench/gen -out /tmp/set -size 2GiB -seed 1
//	go run ./bench/gen -size 200MB -print-size   # 200000000: the scripts' byte count
//
// Sizes are read as everywhere in Shoebox (docs/UNITS.md): 2G is 2·10⁹
// bytes, 2GiB is 2·2³⁰.
//
//	go run ./bench/gen -out /tmp/set -seed 1 -mutate
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shoebox/shoebox/internal/units"
)

const (
	KiB = 1 << 10
	MiB = 1 << 20

	bufSize = 4 * MiB // multiple of 8: the content stream does not depend on it

	fileMode = 0o644
	dirMode  = 0o755
)

var (
	// Fixed times: the set carries no trace of when it was generated.
	genDirTime    = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	mutateEpoch   = time.Date(2025, 3, 9, 20, 0, 0, 0, time.UTC)
	firstShotDate = time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)
	shotDays      = 6 * 365
)

// spec is one file to write: either Size bytes of the content stream
// identified by Content, or the literal Data (sidecars).
type spec struct {
	Path    string // slash-separated, relative to the set root
	Size    int64
	Content uint64
	Data    []byte
	Mtime   time.Time
}

func main() {
	out := flag.String("out", "", "set directory (created by generation; must exist with -mutate)")
	seed := flag.Uint64("seed", 1, "seed: same seed and size give the same set byte for byte")
	sizeArg := flag.String("size", "2GiB", "approximate total size (bytes, or 200MB, 2GiB: docs/UNITS.md)")
	printSize := flag.Bool("print-size", false, "print -size in bytes and exit (for the bench scripts)")
	sidecars := flag.Int("sidecars", 3000, "number of XMP sidecars (capped at ~10% of -size)")
	mutate := flag.Bool("mutate", false, "apply the deterministic ~5% mutation to the existing set in -out")
	workers := flag.Int("j", runtime.NumCPU(), "parallel file writers")
	flag.Parse()
	size, err := units.ParseSize(*sizeArg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen: -size:", err)
		os.Exit(2)
	}
	if *printSize {
		fmt.Println(size)
		return
	}
	if *out == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *workers < 1 {
		*workers = 1
	}
	start := time.Now()
	if *mutate {
		err = runMutate(*out, *seed, *workers)
	} else {
		err = runGenerate(*out, *seed, size, *sidecars, *workers)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "gen: done in %.1fs\n", time.Since(start).Seconds())
}

// ---------------------------------------------------------------------------
// Content streams

// contentRNG returns the PCG stream for one content id. PCG filled 8 bytes at
// a time runs at >2 GB/s per core, and its output does not compress.
func contentRNG(seed, content uint64) *rand.PCG {
	return rand.NewPCG(seed^0x9e3779b97f4a7c15, content*0xbf58476d1ce4e5b9+1)
}

func fill(r *rand.PCG, buf []byte) {
	n := len(buf) &^ 7
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], r.Uint64())
	}
	if n < len(buf) {
		var tail [8]byte
		binary.LittleEndian.PutUint64(tail[:], r.Uint64())
		copy(buf[n:], tail[:])
	}
}

// writeStream writes size bytes of content stream id to f at its current
// offset. The stream is consumed in bufSize chunks (a multiple of 8), so the
// bytes do not depend on how the file is written.
func writeStream(f *os.File, buf []byte, seed, content uint64, size int64) error {
	r := contentRNG(seed, content)
	for size > 0 {
		n := int64(len(buf))
		if size < n {
			n = size
		}
		fill(r, buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			return err
		}
		size -= n
	}
	return nil
}

// ---------------------------------------------------------------------------
// Generation

type camera struct {
	kind     string // folder: Photos or Videos
	name     string // printf format of the file name, takes the counter
	make     string
	model    string
	lens     string
	min, max int64
}

var cameras = []camera{
	{"Photos", "DSC_%04d.JPG", "NIKON CORPORATION", "NIKON Z 6_2", "NIKKOR Z 24-70mm f/4 S", 2 * MiB, 12 * MiB},
	{"Photos", "DSC_%04d.NEF", "NIKON CORPORATION", "NIKON Z 6_2", "NIKKOR Z 50mm f/1.8 S", 18 * MiB, 30 * MiB},
	{"Photos", "IMG_%04d.CR3", "Canon", "Canon EOS R6", "RF24-105mm F4 L IS USM", 16 * MiB, 30 * MiB},
	{"Photos", "IMG_%04d.JPG", "Apple", "iPhone 13 Pro", "iPhone 13 Pro back triple camera 5.7mm f/1.5", 2 * MiB, 6 * MiB},
	{"Photos", "_DSC%04d.ARW", "SONY", "ILCE-7M3", "FE 35mm F1.8", 20 * MiB, 30 * MiB},
	{"Videos", "clip_%02d.MP4", "DJI", "OsmoAction3", "", 8 * MiB, 30 * MiB},
}

var keywords = []string{
	"family", "holiday", "beach", "mountains", "birthday", "portrait", "landscape",
	"sunset", "city", "night", "snow", "hiking", "wedding", "garden", "dog", "cat",
	"street", "architecture", "food", "concert", "travel", "kids", "friends", "lake",
}

var labels = []string{"", "Red", "Yellow", "Green", "Blue", "Purple"}

type media struct {
	spec
	cam  int
	date time.Time
	num  int
}

func dayPath(kind string, d time.Time) string {
	return fmt.Sprintf("%s/%04d/%s", kind, d.Year(), d.Format("2006-01-02"))
}

func plan(seed uint64, size int64, nSidecars int) []spec {
	rng := rand.New(rand.NewPCG(seed, 0x73686f65626f78))
	used := map[string]bool{}
	var files []spec
	var nextContent uint64 = 1

	// Sidecars first: their sizes decide how much is left for media.
	if capN := int(size / 10 / (4600)); nSidecars > capN {
		nSidecars = capN
	}
	sidecarBytes := int64(nSidecars) * 4600 // estimate, refined below
	uniqueBudget := size - size/10 - sidecarBytes
	dupBudget := size / 10

	// Media: shooting "events", each a burst of files from one camera on one day.
	counters := make([]int, len(cameras))
	for i := range counters {
		counters[i] = 1 + rng.IntN(9000)
	}
	var all []media
	var uniqueBytes int64
	for uniqueBytes < uniqueBudget {
		ci := rng.IntN(len(cameras))
		cam := cameras[ci]
		day := firstShotDate.AddDate(0, 0, rng.IntN(shotDays))
		t := day.Add(time.Duration(7*3600+rng.IntN(12*3600)) * time.Second)
		n := 1 + rng.IntN(6)
		if cam.kind == "Videos" {
			counters[ci] = 1 // clips restart each day
		}
		for k := 0; k < n && uniqueBytes < uniqueBudget; k++ {
			num := counters[ci]
			counters[ci]++
			if counters[ci] > 9999 {
				counters[ci] = 1
			}
			p := dayPath(cam.kind, day) + "/" + fmt.Sprintf(cam.name, num)
			if used[p] {
				continue
			}
			used[p] = true
			sz := cam.min + rng.Int64N(cam.max-cam.min)
			if rest := uniqueBudget - uniqueBytes; sz > rest && rest >= 2*MiB {
				sz = rest
			}
			t = t.Add(time.Duration(1+rng.IntN(90)) * time.Second)
			m := media{spec{Path: p, Size: sz, Content: nextContent, Mtime: t}, ci, day, num}
			nextContent++
			all = append(all, m)
			files = append(files, m.spec)
			uniqueBytes += sz
		}
	}

	// Duplicates: exact copies of media files under other names and folders.
	var dupBytes int64
	phoneN := 1 + rng.IntN(9000)
	for tries := 0; dupBytes < dupBudget && tries < 10000; tries++ {
		m := all[rng.IntN(len(all))]
		if rest := dupBudget - dupBytes; m.Size > rest+4*MiB && tries < 9000 {
			continue // prefer copies that do not overshoot the 10% much
		}
		base := path.Base(m.Path)
		ext := path.Ext(base)
		stem := strings.TrimSuffix(base, ext)
		var p string
		switch rng.IntN(4) {
		case 0: // phone backup renames everything
			p = fmt.Sprintf("Phone Backup/DCIM/%dAPPLE/IMG_%04d%s", 100+phoneN/1000%10, phoneN, ext)
			phoneN++
		case 1: // an export folder per year
			p = fmt.Sprintf("Exports/%d/%s", m.date.Year(), base)
		case 2: // copied twice into the same day
			p = path.Dir(m.Path) + "/" + stem + " (1)" + ext
		default: // a curated album
			p = fmt.Sprintf("Albums/Best of %d/%s", m.date.Year(), base)
		}
		if used[p] {
			continue
		}
		used[p] = true
		files = append(files, spec{Path: p, Size: m.Size, Content: m.Content,
			Mtime: m.Mtime.Add(time.Duration(30+rng.IntN(400*24*3600)) * time.Second)})
		dupBytes += m.Size
	}

	// Sidecars: one next to each photo, the rest in a sidecar archive folder.
	var photos []media
	for _, m := range all {
		if cameras[m.cam].kind == "Photos" {
			photos = append(photos, m)
		}
	}
	var archiveDay time.Time
	archiveLeft := 0
	for i := 0; i < nSidecars; i++ {
		var m media
		var p string
		if i < len(photos) {
			m = photos[i]
			p = strings.TrimSuffix(m.Path, path.Ext(m.Path)) + ".xmp"
		} else {
			if archiveLeft == 0 {
				archiveDay = firstShotDate.AddDate(0, 0, rng.IntN(shotDays))
				archiveLeft = 20 + rng.IntN(60)
			}
			archiveLeft--
			ci := rng.IntN(len(cameras) - 1) // photo cameras only
			m = media{cam: ci, date: archiveDay, num: 1 + rng.IntN(9999)}
			m.Mtime = archiveDay.Add(time.Duration(7*3600+rng.IntN(12*3600)) * time.Second)
			stem := strings.TrimSuffix(fmt.Sprintf(cameras[ci].name, m.num), path.Ext(cameras[ci].name))
			p = dayPath("Archive/Sidecars", archiveDay) + "/" + stem + ".xmp"
		}
		if used[p] {
			continue
		}
		used[p] = true
		data := sidecar(rng, m)
		files = append(files, spec{Path: p, Size: int64(len(data)), Data: data,
			Mtime: m.Mtime.Add(time.Duration(60+rng.IntN(90*24*3600)) * time.Second)})
	}
	return files
}

func hexID(rng *rand.Rand) string {
	return fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
}

func xmpTime(t time.Time) string { return t.Format("2006-01-02T15:04:05.00-07:00") }

// sidecar renders an XMP packet of 1–8 KiB: a header with varied values, an
// optional develop-settings block and a history of repeated entries.
func sidecar(rng *rand.Rand, m media) []byte {
	cam := cameras[m.cam]
	target := 1*KiB + rng.IntN(7*KiB)
	var b strings.Builder
	b.Grow(target + 1024)
	did := hexID(rng)
	created := m.Mtime
	modified := created.Add(time.Duration(rng.IntN(300*24*3600)) * time.Second)
	fmt.Fprintf(&b, `<?xpacket begin="%s" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000 1.000000, 0000/00/00-00:00:00        ">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:aux="http://ns.adobe.com/exif/1.0/aux/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
   xmp:CreatorTool="%s"
   xmp:CreateDate="%s"
   xmp:ModifyDate="%s"
   xmp:MetadataDate="%s"
   xmp:Rating="%d"
   xmp:Label="%s"
   tiff:Make="%s"
   tiff:Model="%s"
   tiff:Orientation="%d"
   exif:ExposureTime="1/%d"
   exif:FNumber="%d/10"
   exif:ISOSpeedRatings="%d"
   exif:FocalLength="%d/1"
   exif:GPSLatitude="%d,%d.%04dN"
   exif:GPSLongitude="%d,%d.%04dE"
   aux:Lens="%s"
   aux:SerialNumber="%d"
   aux:ImageNumber="%d"
   xmpMM:DocumentID="xmp.did:%s"
   xmpMM:OriginalDocumentID="xmp.did:%s"
   xmpMM:InstanceID="xmp.iid:%s"`,
		"\ufeff", cam.model, xmpTime(created), xmpTime(modified), xmpTime(modified),
		rng.IntN(6), labels[rng.IntN(len(labels))], cam.make, cam.model, 1+rng.IntN(8),
		[]int{30, 60, 125, 250, 500, 1000, 2000, 4000}[rng.IntN(8)],
		[]int{14, 18, 20, 28, 40, 56, 80, 110}[rng.IntN(8)],
		[]int{100, 200, 400, 800, 1600, 3200, 6400}[rng.IntN(7)],
		24+rng.IntN(176), 35+rng.IntN(20), rng.IntN(60), rng.IntN(10000),
		rng.IntN(20), rng.IntN(60), rng.IntN(10000),
		cam.lens, 3000000+rng.IntN(999999), m.num, did, did, hexID(rng))
	if target > 3*KiB {
		fmt.Fprintf(&b, `
   crs:Version="15.%d"
   crs:ProcessVersion="11.0"
   crs:WhiteBalance="As Shot"
   crs:Temperature="%d"
   crs:Tint="%+d"
   crs:Exposure2012="%+.2f"
   crs:Contrast2012="%+d"
   crs:Highlights2012="%+d"
   crs:Shadows2012="%+d"
   crs:Whites2012="%+d"
   crs:Blacks2012="%+d"
   crs:Texture="%+d"
   crs:Clarity2012="%+d"
   crs:Dehaze="%+d"
   crs:Vibrance="%+d"
   crs:Saturation="%+d"
   crs:Sharpness="%d"
   crs:LuminanceSmoothing="%d"
   crs:ColorNoiseReduction="%d"
   crs:LensProfileEnable="1"
   crs:AutoLateralCA="1"
   crs:HasSettings="True"
   crs:HasCrop="False"`,
			rng.IntN(6), 3000+rng.IntN(4000), rng.IntN(41)-20, rng.Float64()*4-2,
			rng.IntN(101)-50, rng.IntN(101)-100, rng.IntN(101), rng.IntN(61)-30, rng.IntN(61)-30,
			rng.IntN(41)-20, rng.IntN(41)-20, rng.IntN(31)-10, rng.IntN(41)-20, rng.IntN(31)-15,
			rng.IntN(80), rng.IntN(40), 25)
	}
	b.WriteString(">\n   <dc:subject>\n    <rdf:Bag>\n")
	for k := 1 + rng.IntN(5); k > 0; k-- {
		fmt.Fprintf(&b, "     <rdf:li>%s</rdf:li>\n", keywords[rng.IntN(len(keywords))])
	}
	b.WriteString("    </rdf:Bag>\n   </dc:subject>\n   <xmpMM:History>\n    <rdf:Seq>\n")
	const footer = "    </rdf:Seq>\n   </xmpMM:History>\n  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n" +
		"<?xpacket end=\"w\"?>\n"
	when := created
	for first := true; first || b.Len()+len(footer) < target; first = false {
		when = when.Add(time.Duration(60+rng.IntN(30*24*3600)) * time.Second)
		action, changed := "saved", "/metadata"
		switch rng.IntN(4) {
		case 0:
			action, changed = "derived", ""
		case 1:
			changed = "/"
		}
		fmt.Fprintf(&b, `     <rdf:li
      stEvt:action="%s"
      stEvt:instanceID="xmp.iid:%s"
      stEvt:when="%s"
      stEvt:softwareAgent="Adobe Photoshop Lightroom Classic 12.%d (Macintosh)"
      stEvt:changed="%s"/>
`, action, hexID(rng), xmpTime(when), rng.IntN(5), changed)
	}
	b.WriteString(footer)
	return []byte(b.String())
}

func runGenerate(out string, seed uint64, size int64, nSidecars, workers int) error {
	if size < 16*MiB {
		return fmt.Errorf("-size %d too small (minimum 16 MiB)", size)
	}
	if ents, err := os.ReadDir(out); err == nil && len(ents) > 0 {
		return fmt.Errorf("%s exists and is not empty", out)
	}
	files := plan(seed, size, nSidecars)

	dirs := map[string]bool{".": true}
	for _, f := range files {
		for d := path.Dir(f.Path); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	if err := os.MkdirAll(out, dirMode); err != nil {
		return err
	}
	for d := range dirs {
		if err := os.MkdirAll(filepath.Join(out, filepath.FromSlash(d)), dirMode); err != nil {
			return err
		}
	}
	if err := writeAll(out, seed, files, workers); err != nil {
		return err
	}
	dl := make([]string, 0, len(dirs))
	for d := range dirs {
		dl = append(dl, d)
	}
	if err := fixDirs(out, dl, genDirTime); err != nil {
		return err
	}

	var total, dup, side int64
	var nMedia, nDup, nSide int
	seen := map[uint64]bool{}
	for _, f := range files {
		total += f.Size
		switch {
		case f.Data != nil:
			side += f.Size
			nSide++
		case seen[f.Content]:
			dup += f.Size
			nDup++
		default:
			seen[f.Content] = true
			nMedia++
		}
	}
	fmt.Fprintf(os.Stderr, "gen: %s: %d files, %.1f MiB: %d media files, %d duplicates (%.1f MiB, %.1f%%), %d sidecars (%.1f MiB)\n",
		out, len(files), float64(total)/MiB, nMedia, nDup, float64(dup)/MiB, 100*float64(dup)/float64(total),
		nSide, float64(side)/MiB)
	return nil
}

// writeAll writes files in parallel, biggest first, and sets their modes and
// mtimes. Their directories must exist.
func writeAll(root string, seed uint64, files []spec, workers int) error {
	order := make([]int, len(files))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return files[order[a]].Size > files[order[b]].Size })
	ch := make(chan int)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, bufSize)
			var firstErr error
			for i := range ch {
				if firstErr == nil {
					firstErr = writeOne(root, seed, &files[i], buf)
				}
			}
			errc <- firstErr
		}()
	}
	for _, i := range order {
		ch <- i
	}
	close(ch)
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	return nil
}

func writeOne(root string, seed uint64, s *spec, buf []byte) error {
	name := filepath.Join(root, filepath.FromSlash(s.Path))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	if s.Data != nil {
		_, err = f.Write(s.Data)
	} else {
		err = writeStream(f, buf, seed, s.Content, s.Size)
	}
	if err == nil {
		err = f.Chmod(fileMode) // independent of the umask
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(name, s.Mtime, s.Mtime)
	}
	return err
}

// fixDirs sets mode and mtime of the given directories (relative, slash).
func fixDirs(root string, dirs []string, t time.Time) error {
	for _, d := range dirs {
		p := filepath.Join(root, filepath.FromSlash(d))
		if err := os.Chmod(p, dirMode); err != nil {
			return err
		}
		if err := os.Chtimes(p, t, t); err != nil {
			return err
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// Mutation

type entry struct {
	path string // slash, relative
	size int64
}

func listSet(root string) (mediaFiles, sidecars []entry, total int64, err error) {
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		e := entry{filepath.ToSlash(rel), info.Size()}
		total += e.size
		if strings.HasSuffix(e.path, ".xmp") {
			sidecars = append(sidecars, e)
		} else {
			mediaFiles = append(mediaFiles, e)
		}
		return nil
	})
	return // WalkDir visits in lexical order: deterministic
}

func runMutate(root string, seed uint64, workers int) error {
	mediaFiles, sidecars, total, err := listSet(root)
	if err != nil {
		return err
	}
	if len(mediaFiles) < 4 {
		return errors.New("set too small to mutate (is -out a generated set?)")
	}
	rng := rand.New(rand.NewPCG(seed, 0x6d7574617465))
	tick := 0
	now := func() time.Time { tick++; return mutateEpoch.Add(time.Duration(tick) * time.Second) }
	touchedDirs := map[string]bool{}
	touch := func(p string) {
		for d := path.Dir(p); ; d = path.Dir(d) {
			touchedDirs[d] = true
			if d == "." {
				break
			}
		}
	}
	// The content ids of new bytes live far above the generator's.
	var nextContent uint64 = 1 << 40
	var appended, overwritten, deleted, added int64
	var nApp, nOver, nDel, nAdd, nSideEdit, nSideTouch int
	buf := make([]byte, bufSize)
	perm := rng.Perm(len(mediaFiles))
	pi := 0
	next := func() (entry, bool) {
		if pi >= len(perm) {
			return entry{}, false
		}
		pi++
		return mediaFiles[perm[pi-1]], true
	}

	// 1. Appends: ~1.25% of the bytes.
	for appended < total/80 || nApp == 0 {
		e, ok := next()
		if !ok {
			break
		}
		n := int64(256*KiB + rng.IntN(4*MiB-256*KiB))
		name := filepath.Join(root, filepath.FromSlash(e.path))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		err = writeStream(f, buf, seed, nextContent, n)
		nextContent++
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		t := now()
		if err := os.Chtimes(name, t, t); err != nil {
			return err
		}
		appended += n
		nApp++
	}
	// 2. Overwrites in the middle, same size: ~1.25%.
	for overwritten < total/80 || nOver == 0 {
		e, ok := next()
		if !ok {
			break
		}
		n := int64(256*KiB + rng.IntN(2*MiB-256*KiB))
		if n > e.size/2 {
			n = e.size / 2
		}
		off := e.size/2 - n/2 + rng.Int64N(n/4+1) - n/8
		name := filepath.Join(root, filepath.FromSlash(e.path))
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if _, err = f.Seek(off, 0); err == nil {
			err = writeStream(f, buf, seed, nextContent, n)
		}
		nextContent++
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		t := now()
		if err := os.Chtimes(name, t, t); err != nil {
			return err
		}
		overwritten += n
		nOver++
	}
	// 3. Deletes: ~1%, at least two files; files that would overshoot the
	// target a lot are skipped, then the smallest ones are used.
	rest := make([]entry, 0, len(perm)-pi)
	for _, i := range perm[pi:] {
		rest = append(rest, mediaFiles[i])
	}
	del := func(e entry) error {
		touch(e.path)
		deleted += e.size
		nDel++
		return os.Remove(filepath.Join(root, filepath.FromSlash(e.path)))
	}
	var keep []entry
	for _, e := range rest {
		if deleted < total/100 && deleted+e.size <= total*3/200 {
			if err := del(e); err != nil {
				return err
			}
		} else {
			keep = append(keep, e)
		}
	}
	sort.SliceStable(keep, func(a, b int) bool { return keep[a].size < keep[b].size })
	for i := 0; nDel < 2 && i < len(keep); i++ {
		if err := del(keep[i]); err != nil {
			return err
		}
	}
	// 4. New files: a new shooting day (~1.5%, at least 3 files) with sidecars,
	// and one new clip.
	day := mutateEpoch.Truncate(24 * time.Hour)
	var newFiles []spec
	num := 1 + rng.IntN(9000)
	for added < total*3/200 || nAdd < 3 {
		ci := rng.IntN(len(cameras) - 1)
		if nAdd == 0 {
			ci = len(cameras) - 1 // the clip
		}
		cam := cameras[ci]
		n := num
		if cam.kind == "Videos" {
			n = 1
		} else {
			num++
		}
		p := dayPath(cam.kind, day) + "/" + fmt.Sprintf(cam.name, n)
		sz := cam.min + rng.Int64N(cam.max-cam.min)
		if limit := max(total*3/200/3, 512*KiB); sz > limit {
			sz = limit - rng.Int64N(limit/4) // small sets: keep the change near 5%
		}
		t := now()
		newFiles = append(newFiles, spec{Path: p, Size: sz, Content: nextContent, Mtime: t})
		nextContent++
		if cam.kind == "Photos" {
			data := sidecar(rng, media{cam: ci, date: day, num: n, spec: spec{Mtime: t}})
			newFiles = append(newFiles, spec{Path: strings.TrimSuffix(p, path.Ext(p)) + ".xmp",
				Size: int64(len(data)), Data: data, Mtime: now()})
		}
		added += sz
		nAdd++
	}
	for _, f := range newFiles {
		if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(path.Dir(f.Path))), dirMode); err != nil {
			return err
		}
		touch(f.Path)
	}
	if err := writeAll(root, seed, newFiles, workers); err != nil {
		return err
	}
	// 5. Sidecars: edit ~5% (new rating, a new history entry), touch ~1%.
	sperm := rng.Perm(len(sidecars))
	nEdit := (len(sidecars) + 19) / 20
	nTouch := (len(sidecars) + 99) / 100
	for k, i := range sperm {
		if k >= nEdit+nTouch {
			break
		}
		name := filepath.Join(root, filepath.FromSlash(sidecars[i].path))
		if k < nEdit {
			data, err := os.ReadFile(name)
			if err != nil {
				return err
			}
			data = editSidecar(rng, data, now())
			if err := os.WriteFile(name, data, fileMode); err != nil {
				return err
			}
			nSideEdit++
		} else {
			nSideTouch++
		}
		t := now()
		if err := os.Chtimes(name, t, t); err != nil {
			return err
		}
	}
	dl := make([]string, 0, len(touchedDirs))
	for d := range touchedDirs {
		dl = append(dl, d)
	}
	if err := fixDirs(root, dl, mutateEpoch); err != nil {
		return err
	}
	changed := appended + overwritten + deleted + added
	fmt.Fprintf(os.Stderr, "gen: mutate %s: %.1f MiB changed (%.1f%% of %.1f MiB): %d appended (%.1f MiB), %d overwritten (%.1f MiB), %d deleted (%.1f MiB), %d new media (%.1f MiB), %d sidecars edited, %d touched\n",
		root, float64(changed)/MiB, 100*float64(changed)/float64(total), float64(total)/MiB,
		nApp, float64(appended)/MiB, nOver, float64(overwritten)/MiB, nDel, float64(deleted)/MiB,
		nAdd, float64(added)/MiB, nSideEdit, nSideTouch)
	return nil
}

// editSidecar changes the rating and appends a history entry, like an editor
// saving new metadata.
func editSidecar(rng *rand.Rand, data []byte, t time.Time) []byte {
	s := string(data)
	if i := strings.Index(s, `xmp:Rating="`); i >= 0 && i+13 < len(s) {
		s = s[:i+12] + fmt.Sprint(rng.IntN(6)) + s[i+13:]
	}
	entry := fmt.Sprintf(`     <rdf:li
      stEvt:action="saved"
      stEvt:instanceID="xmp.iid:%s"
      stEvt:when="%s"
      stEvt:softwareAgent="Adobe Photoshop Lightroom Classic 13.%d (Macintosh)"
      stEvt:changed="/metadata"/>
`, hexID(rng), xmpTime(t), rng.IntN(3))
	if i := strings.LastIndex(s, "    </rdf:Seq>"); i >= 0 {
		s = s[:i] + entry + s[i:]
	} else {
		s += entry
	}
	return []byte(s)
}
