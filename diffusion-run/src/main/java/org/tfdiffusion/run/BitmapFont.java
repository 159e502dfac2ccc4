package org.tfdiffusion.run;

import static com.google.common.base.Preconditions.checkArgument;

/**
 * A 5×7 pixel font for labels on sample grids, drawn without the platform's fonts so that a grid's
 * pixels are the same on every machine. Covers ASCII letters, digits, space and {@code
 * #%&'()+,-./:=?_}; any other character is drawn as {@code ?}.
 */
final class BitmapFont {
  /** Glyph width and height in font pixels; one column of space follows each glyph. */
  static final int WIDTH = 5;

  static final int HEIGHT = 7;

  /** Horizontal advance per character, in font pixels. */
  static final int ADVANCE = WIDTH + 1;

  private static final String CHARS =
      " #%&'()+,-./0123456789:=?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
  private static final String GLYPHS =
      "000000000000000a0a1f0a1f0a0a181902040813030c12140815120d0c04080000000002040808080402"
          + "080402020204080004041f040400000000000c04080000001f00000000000000000c0c00010204081000"
          + "0e11131519110e040c040404040e0e11010204081f1f02040201110e02060a121f02021f101e0101110e"
          + "0608101e11110e1f0102040808080e11110e11110e0e11110f01020c000c0c000c0c0000001f001f0000"
          + "0e1101020400040e11111f1111111e11111e11111e0e11101010110e1c12111111121c1f10101e10101f"
          + "1f10101e1010100e11101711110f1111111f1111110e04040404040e0702020202120c11121418141211"
          + "1010101010101f111b1515111111111119151311110e11111111110e1e11111e1010100e11111115120d"
          + "1e11111e1412110f10100e01011e1f0404040404041111111111110e11111111110a041111111515150a"
          + "11110a040a111111110a040404041f01020408101f0000000000001f00000e010f110f1010161911111e"
          + "00000e1010110e01010d1311110f00000e111f100e0609081c080808000f11110f010e10101619111111"
          + "04000c0404040e0200060202120c101012141814120c04040404040e00001a1515111100001619111111"
          + "00000e1111110e00001e111e101000000d130f01010000161910101000000e100e011e08081c08080906"
          + "0000111111130d00001111110a040000111115150a0000110a040a11000011110f010e00001f0204081f";

  private BitmapFont() {}

  /** Width in pixels of {@code text} drawn at {@code scale}. */
  static int width(String text, int scale) {
    return text.isEmpty() ? 0 : (text.length() * ADVANCE - 1) * scale;
  }

  /**
   * Draws {@code text} into a row-major [height, width, channels] 8-bit image, every channel set to
   * {@code value}, its top-left corner at (left, top); pixels outside the image are skipped.
   */
  static void draw(
      byte[] pixels,
      int height,
      int width,
      int channels,
      String text,
      int left,
      int top,
      int scale,
      byte value) {
    checkArgument(scale >= 1, "font scale must be >= 1, got %s", scale);
    for (int i = 0; i < text.length(); i++) {
      int glyph = CHARS.indexOf(text.charAt(i));
      if (glyph < 0) {
        glyph = CHARS.indexOf('?');
      }
      for (int row = 0; row < HEIGHT; row++) {
        int bits =
            Integer.parseInt(
                GLYPHS.substring((glyph * HEIGHT + row) * 2, (glyph * HEIGHT + row) * 2 + 2), 16);
        for (int col = 0; col < WIDTH; col++) {
          if ((bits & (1 << (WIDTH - 1 - col))) == 0) {
            continue;
          }
          for (int dy = 0; dy < scale; dy++) {
            for (int dx = 0; dx < scale; dx++) {
              int y = top + row * scale + dy;
              int x = left + (i * ADVANCE + col) * scale + dx;
              if (y >= 0 && y < height && x >= 0 && x < width) {
                for (int k = 0; k < channels; k++) {
                  pixels[(y * width + x) * channels + k] = value;
                }
              }
            }
          }
        }
      }
    }
  }
}
