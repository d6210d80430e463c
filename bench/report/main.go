// Command report turns bench/bench.sh's results.tsv into markdown tables:
// medians per tool and step, repository sizes, and Shoebox's ratios to each
// peer.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

var steps = []struct{ id, title string }{
	{"initial", "initial backup"},
	{"nochange", "re-backup, no change"},
	{"mutated", "backup after ~5% mutation"},
	{"restore", "full restore"},
	{"check", "full-data check"},
}

type run struct {
	wall, cpu, rssMiB, data, repo float64
}

type cell struct {
	ok    []run
	total int
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (c *cell) med(f func(run) float64) float64 {
	var xs []float64
	for _, r := range c.ok {
		if v := f(r); v >= 0 {
			xs = append(xs, v)
		}
	}
	return median(xs)
}

func main() {
	tsv := flag.String("tsv", "", "results.tsv written by bench.sh")
	toolList := flag.String("tools", "", "tools in display order (space separated)")
	flag.Parse()
	f, err := os.Open(*tsv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	defer f.Close()

	cells := map[string]*cell{} // tool + "/" + step
	versions := map[string]string{}
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		c := strings.Split(sc.Text(), "\t")
		if first || len(c) < 11 {
			continue
		}
		tool, step, status := c[0], c[3], c[10]
		versions[tool] = c[1]
		k := tool + "/" + step
		if cells[k] == nil {
			cells[k] = &cell{}
		}
		cells[k].total++
		if status != "ok" {
			continue
		}
		num := func(s string) float64 {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return -1
			}
			return v
		}
		user, sys := num(c[5]), num(c[6])
		cells[k].ok = append(cells[k].ok, run{
			wall: num(c[4]), cpu: user + sys, rssMiB: num(c[7]) / 1024, data: num(c[8]), repo: num(c[9]),
		})
	}
	tools := strings.Fields(*toolList)

	fmt.Println("## Medians")
	fmt.Println()
	fmt.Println("| tool | step | wall s | MiB/s | CPU s | peak RSS MiB | ok runs |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|")
	for _, t := range tools {
		for _, s := range steps {
			c := cells[t+"/"+s.id]
			if c == nil {
				continue
			}
			if len(c.ok) == 0 {
				fmt.Printf("| %s | %s | – | – | – | – | 0/%d |\n", t, s.title, c.total)
				continue
			}
			wall := c.med(func(r run) float64 { return r.wall })
			mibs := c.med(func(r run) float64 {
				if r.wall <= 0 {
					return -1
				}
				return r.data / (1 << 20) / r.wall
			})
			fmt.Printf("| %s | %s | %.2f | %.0f | %.2f | %.0f | %d/%d |\n", t, s.title, wall, mibs,
				c.med(func(r run) float64 { return r.cpu }), c.med(func(r run) float64 { return r.rssMiB }),
				len(c.ok), c.total)
		}
	}

	repoSize := map[string]float64{}
	fmt.Println()
	fmt.Println("## Repository size after the third backup (initial + no change + mutated)")
	fmt.Println()
	fmt.Println("| tool | MiB | % of mutated source |")
	fmt.Println("|---|---:|---:|")
	for _, t := range tools {
		c := cells[t+"/mutated"]
		if c == nil || len(c.ok) == 0 {
			fmt.Printf("| %s | – | – |\n", t)
			continue
		}
		size := c.med(func(r run) float64 { return r.repo })
		data := c.med(func(r run) float64 { return r.data })
		repoSize[t] = size
		fmt.Printf("| %s | %.1f | %.1f%% |\n", t, size/(1<<20), 100*size/data)
	}

	var peers []string
	for _, t := range tools {
		if t != "shoebox" {
			peers = append(peers, t)
		}
	}
	if len(peers) == 0 || cells["shoebox/initial"] == nil {
		return
	}
	fmt.Println()
	fmt.Println("## Shoebox relative to each peer")
	fmt.Println()
	fmt.Println("Speed: peer wall time / Shoebox wall time (>1: Shoebox is faster). " +
		"Size: peer repository / Shoebox repository (>1: Shoebox's is smaller).")
	fmt.Println()
	fmt.Print("| step |")
	for _, p := range peers {
		fmt.Printf(" vs %s |", p)
	}
	fmt.Println()
	fmt.Print("|---|")
	for range peers {
		fmt.Print("---:|")
	}
	fmt.Println()
	wallOf := func(t, s string) float64 {
		c := cells[t+"/"+s]
		if c == nil || len(c.ok) == 0 {
			return 0
		}
		return c.med(func(r run) float64 { return r.wall })
	}
	ratio := func(peer, mine float64) string {
		if peer <= 0 || mine <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", peer/mine)
	}
	for _, s := range steps {
		fmt.Printf("| %s |", s.title)
		for _, p := range peers {
			fmt.Printf(" %s |", ratio(wallOf(p, s.id), wallOf("shoebox", s.id)))
		}
		fmt.Println()
	}
	fmt.Print("| repository size |")
	for _, p := range peers {
		fmt.Printf(" %s |", ratio(repoSize[p], repoSize["shoebox"]))
	}
	fmt.Println()
}
