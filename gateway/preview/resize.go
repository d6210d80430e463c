package preview

import (
	"context"
	"image"
)

// downscale shrinks img so that its longer side is at most limit, by a
// whole factor (a box filter: each output pixel is the mean of f×f
// input pixels). It stops, with the context's error, when ctx ends.
func downscale(ctx context.Context, img image.Image, limit int) (image.Image, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	f := (max(w, h) + limit - 1) / limit
	if f <= 1 {
		return img, nil
	}
	out := image.NewRGBA(image.Rect(0, 0, w/f, h/f))
	for y := 0; y < h/f; y++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for x := 0; x < w/f; x++ {
			var rs, gs, bs, n uint32
			for dy := 0; dy < f; dy++ {
				for dx := 0; dx < f; dx++ {
					r, g, bb, _ := img.At(b.Min.X+x*f+dx, b.Min.Y+y*f+dy).RGBA()
					rs, gs, bs, n = rs+r, gs+g, bs+bb, n+1
				}
			}
			i := out.PixOffset(x, y)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = uint8(rs/n>>8), uint8(gs/n>>8), uint8(bs/n>>8), 255
		}
	}
	return out, nil
}
