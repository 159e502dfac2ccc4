package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;

/**
 * The web page in a real headless Chromium (Debian's {@code chromium} and {@code chromium-driver};
 * skipped with a message when they are not installed), against the server on a free port with the
 * tiny export and a folder of runs. Screenshots go to {@code target/web-page.png}, {@code
 * target/web-edit.png} and {@code target/web-runs.png}.
 */
class WebPageBrowserTest {
  static final Duration WAIT = Duration.ofSeconds(60);
  static final List<String> CHROMIUM =
      List.of("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome");
  static final List<String> CHROMEDRIVER =
      List.of("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver");

  static RestServer server;
  static ChromeDriver driver;

  /** Why the browser test cannot run here, or null. */
  static String missing;

  @BeforeAll
  static void start() {
    Optional<String> browser = firstExecutable("TFDIFFUSION_CHROMIUM", CHROMIUM);
    Optional<String> chromedriver = firstExecutable("TFDIFFUSION_CHROMEDRIVER", CHROMEDRIVER);
    if (browser.isEmpty() || chromedriver.isEmpty()) {
      missing =
          "skipped: the browser test needs Chromium and its driver, "
              + (browser.isEmpty() ? "no chromium in " + CHROMIUM : "chromium found")
              + ", "
              + (chromedriver.isEmpty() ? "no chromedriver in " + CHROMEDRIVER : "driver found")
              + "; install them with apt-get install -y chromium chromium-driver (or set"
              + " TFDIFFUSION_CHROMIUM and TFDIFFUSION_CHROMEDRIVER)";
      System.err.println("WebPageBrowserTest " + missing);
      return;
    }
    server =
        RestServer.start(
            WebFixture.base(),
            RestServer.Options.defaults()
                .withPort(0)
                .withMaxBatch(8)
                .withPoll(Duration.ZERO)
                .withRuns(WebFixture.runs()),
            ServerLog.quiet());
    Logger.getLogger("org.openqa.selenium").setLevel(Level.SEVERE);
    ChromeOptions options = new ChromeOptions();
    options.setBinary(browser.get());
    options.addArguments(
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps");
    options.setCapability("goog:loggingPrefs", Map.of(LogType.BROWSER, "ALL"));
    ChromeDriverService service =
        new ChromeDriverService.Builder()
            .usingDriverExecutable(new File(chromedriver.get()))
            .usingAnyFreePort()
            .build();
    driver = new ChromeDriver(service, options);
    driver.manage().timeouts().scriptTimeout(WAIT);
  }

  static Optional<String> firstExecutable(String variable, List<String> candidates) {
    return Stream.concat(Stream.ofNullable(System.getenv(variable)), candidates.stream())
        .filter(p -> Files.isExecutable(Path.of(p)))
        .findFirst();
  }

  @AfterAll
  static void stop() {
    if (driver != null) {
      driver.quit();
    }
    if (server != null) {
      server.close();
    }
  }

  @BeforeEach
  void blank() {
    assumeTrue(missing == null, missing);
    driver.get("about:blank");
  }

  /** Opens the page at a hash and waits until it has started (and run what the link asks). */
  static void open(String hash) {
    open(server, hash);
  }

  static void open(RestServer at, String hash) {
    driver.get(at.url() + "/" + hash);
    waitFor("the page to start", () -> "true".equals(js("return document.body.dataset.ready")));
  }

  static Object js(String script, Object... args) {
    return ((JavascriptExecutor) driver).executeScript(script, args);
  }

  static WebElement byId(String id) {
    return driver.findElement(By.id(id));
  }

  static void type(String id, String text) {
    WebElement field = byId(id);
    field.clear();
    field.sendKeys(text);
  }

  /** Picks the option of a select by its text, as a user would. */
  static void choose(String id, String text) {
    driver
        .findElement(
            By.xpath("//select[@id='" + id + "']/option[normalize-space(.)='" + text + "']"))
        .click();
  }

  /** The text of a select's chosen option. */
  static String selected(String id) {
    return (String)
        js(
            "const s = document.getElementById(arguments[0]);"
                + " return s.options[s.selectedIndex].text;",
            id);
  }

  static void waitFor(String what, Supplier<Boolean> condition) {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (System.nanoTime() < deadline) {
      if (Boolean.TRUE.equals(condition.get())) {
        return;
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    fail(
        "timed out waiting for "
            + what
            + "; page error: "
            + js("return document.getElementById('gen-error').textContent")
            + " / "
            + js("return document.getElementById('runs-error').textContent"));
  }

  /** The src of each result image, once the batch of {@code count} has rendered. */
  @SuppressWarnings("unchecked")
  static List<String> images(int count) {
    waitFor(
        count + " rendered images",
        () ->
            (Boolean)
                js(
                    "const imgs = [...document.querySelectorAll('#results img')];"
                        + " return !document.getElementById('generate').disabled"
                        + " && imgs.length === arguments[0]"
                        + " && imgs.every(i => i.complete && i.naturalWidth === 28);",
                    count));
    return (List<String>)
        js("return [...document.querySelectorAll('#results img')].map(i => i.src)");
  }

  static void generate() {
    byId("generate").click();
  }

  /** Chromium's console: JavaScript errors and content-security-policy violations fail a test. */
  static void assertNoConsoleErrors() {
    List<String> severe =
        driver.manage().logs().get(LogType.BROWSER).getAll().stream()
            .filter(e -> e.getLevel().intValue() >= Level.SEVERE.intValue())
            .map(LogEntry::getMessage)
            // a request the server refused (shown on the page) is logged as a failed resource
            .filter(m -> !m.contains("Failed to load resource"))
            .toList();
    assertThat(severe).isEmpty();
  }

  static void screenshot(String name) throws Exception {
    Path target = Path.of("target");
    Files.createDirectories(target);
    js("window.scrollTo(0, 0)");
    File shot = driver.getScreenshotAs(OutputType.FILE);
    Files.copy(shot.toPath(), target.resolve(name), StandardCopyOption.REPLACE_EXISTING);
  }

  /** The PNG (b64) of one image straight from :predict, as the page should have asked for it. */
  static String predictDirectly(long seed, int label, double guidance, int steps) throws Exception {
    String body =
        String.format(
            java.util.Locale.ROOT,
            "{\"signature_name\": \"sample\", \"inputs\": {\"seed\": [%d], \"class_label\": [%d],"
                + " \"guidance_scale\": [%s], \"num_steps\": %d}}",
            seed,
            label,
            guidance,
            steps);
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(URI.create(server.url() + "/v1/models/fashion:predict"))
                    .POST(HttpRequest.BodyPublishers.ofString(body))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode json = new ObjectMapper().readTree(r.body());
    return json.path("outputs").path("images_png_bytes").get(0).path("b64").asText();
  }

  @Test
  void twoSeedsGiveTwoDistinctImagesTheSameSeedTheSameImageAndTheLinkReproducesThem()
      throws Exception {
    open("");
    assertThat(selected("model")).isEqualTo("fashion");
    waitFor("the model's signatures", () -> byId("steps-field").isDisplayed());
    choose("class", "Trouser");
    type("seeds", "1, 2");
    type("guidance", "3");
    type("steps", "4");
    generate();
    List<String> first = images(2);
    assertThat(first).allSatisfy(src -> assertThat(src).startsWith("data:image/png;base64,"));
    assertThat(first.get(0)).isNotEqualTo(first.get(1));
    long differing =
        (Long)
            js(
                "const px = img => { const c = document.createElement('canvas');"
                    + " c.width = img.naturalWidth; c.height = img.naturalHeight;"
                    + " const g = c.getContext('2d'); g.drawImage(img, 0, 0);"
                    + " return g.getImageData(0, 0, c.width, c.height).data; };"
                    + " const [a, b] = [...document.querySelectorAll('#results img')].map(px);"
                    + " let n = 0; for (let i = 0; i < a.length; i += 4) if (a[i] !== b[i]) n++;"
                    + " return n;");
    assertThat(differing).as("pixels that differ between seed 1 and seed 2").isGreaterThan(100);
    assertThat(first.get(0))
        .as("the page asks :predict for seed 1, Trouser, guidance 3, 4 steps")
        .isEqualTo("data:image/png;base64," + predictDirectly(1, 1, 3.0, 4));
    assertThat(byId("result-info").getText())
        .matches("(?s)2 images in [0-9.]+ s.*")
        .contains("fashion v1", "Trouser", "guidance 3", "4 steps");
    WebElement download = driver.findElement(By.cssSelector("#results figure a[download]"));
    assertThat(download.getAttribute("download")).isEqualTo("fashion-v1-Trouser-seed1.png");
    // the download is the same image upscaled (nearest neighbour) to a cell of at least 56 pixels
    waitFor("the upscaled download", () -> !download.getAttribute("href").equals(first.get(0)));
    @SuppressWarnings("unchecked")
    List<Long> sizes =
        (List<Long>)
            ((org.openqa.selenium.JavascriptExecutor) driver)
                .executeAsyncScript(
                    "const done = arguments[arguments.length - 1];"
                        + " const a = new Image(); a.onload = () => {"
                        + " const b = document.querySelector('#results img');"
                        + " const c = document.createElement('canvas');"
                        + " c.width = a.naturalWidth; c.height = a.naturalHeight;"
                        + " const g = c.getContext('2d'); g.drawImage(a, 0, 0);"
                        + " const up = g.getImageData(0, 0, c.width, c.height).data;"
                        + " const d = document.createElement('canvas');"
                        + " d.width = b.naturalWidth; d.height = b.naturalHeight;"
                        + " const h = d.getContext('2d'); h.drawImage(b, 0, 0);"
                        + " const orig = h.getImageData(0, 0, d.width, d.height).data;"
                        + " const s = a.naturalWidth / b.naturalWidth; let bad = 0;"
                        + " for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++)"
                        + " if (up[(y * c.width + x) * 4] !== orig[(Math.floor(y / s) * d.width"
                        + " + Math.floor(x / s)) * 4]) bad++;"
                        + " done([a.naturalWidth, a.naturalHeight, b.naturalWidth, bad]); };"
                        + " a.src = arguments[0];",
                    download.getAttribute("href"));
    assertThat(sizes.get(1)).as("downloaded height").isGreaterThanOrEqualTo(56L);
    assertThat(sizes.get(0) % sizes.get(2)).as("an integer upscale").isZero();
    assertThat(sizes.get(3)).as("pixels that differ from the nearest source pixel").isZero();
    WebElement grid = byId("grid-download");
    assertThat(grid.getAttribute("download")).isEqualTo("fashion-v1-Trouser-grid.png");
    String link = driver.getCurrentUrl();
    assertThat(link)
        .contains("view=generate", "model=fashion", "version=1", "class=Trouser", "seeds=1,2")
        .contains("guidance=3", "steps=4");
    screenshot("web-page.png");

    type("seeds", "1");
    generate();
    assertThat(images(1)).containsExactly(first.get(0));

    driver.get("about:blank");
    open(link.substring(link.indexOf('#')));
    assertThat(images(2)).containsExactlyElementsOf(first);
    assertThat(byId("seeds").getAttribute("value")).isEqualTo("1,2");
    assertThat(selected("class")).isEqualTo("Trouser");
    assertNoConsoleErrors();
  }

  /** The PNG (b64) of one img2img image straight from :predict, for a PNG file's bytes. */
  static String editDirectly(long seed, int label, double guidance, double strength, byte[] png)
      throws Exception {
    String body =
        String.format(
            java.util.Locale.ROOT,
            "{\"signature_name\": \"img2img\", \"inputs\": {\"seed\": [%d], \"class_label\": [%d],"
                + " \"guidance_scale\": [%s], \"strength\": %s, \"images\": [{\"b64\": \"%s\"}]}}",
            seed,
            label,
            guidance,
            strength,
            java.util.Base64.getEncoder().encodeToString(png));
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(URI.create(server.url() + "/v1/models/fashion:predict"))
                    .POST(HttpRequest.BodyPublishers.ofString(body))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode json = new ObjectMapper().readTree(r.body());
    return json.path("outputs").path("images_png_bytes").get(0).path("b64").asText();
  }

  @Test
  void anUploadedImageAndTheStrengthSliderGiveTheImageToImageResults(@TempDir Path tmp)
      throws Exception {
    open("");
    waitFor("the model's signatures", () -> byId("edit-field").isDisplayed());
    assertThat(byId("strength-row").isDisplayed()).isFalse();
    java.awt.image.BufferedImage shirt =
        new java.awt.image.BufferedImage(28, 28, java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < 28; y++) {
      for (int x = 0; x < 28; x++) {
        shirt.getRaster().setSample(x, y, 0, Math.abs(x - 14) < 8 && y > 3 ? 200 - 3 * y : 10);
      }
    }
    Path file = tmp.resolve("shirt.png");
    javax.imageio.ImageIO.write(shirt, "png", file.toFile());
    byId("init-image").sendKeys(file.toAbsolutePath().toString());
    waitFor("the strength slider", () -> byId("strength-row").isDisplayed());
    assertThat(byId("steps-field").isDisplayed()).as("the edit runs the export's steps").isFalse();
    assertThat(byId("strength-hint").getText()).contains("4 steps", "at least 0.25");
    js(
        "const s = document.getElementById('strength'); s.value = '0.5';"
            + " s.dispatchEvent(new Event('input'));");
    assertThat(byId("strength-value").getText()).isEqualTo("0.5");
    choose("class", "Trouser");
    type("seeds", "1, 2");
    type("guidance", "3");
    generate();
    List<String> edited = images(2);
    assertThat(edited.get(0))
        .as("the page asks img2img for seed 1, Trouser, guidance 3, strength 0.5, the file")
        .isEqualTo(
            "data:image/png;base64," + editDirectly(1, 1, 3.0, 0.5, Files.readAllBytes(file)));
    assertThat(edited.get(1)).isNotEqualTo(edited.get(0));
    assertThat(byId("result-info").getText()).contains("from the image, strength 0.5");
    assertThat(byId("share-hint").isDisplayed()).as("a link cannot carry the image").isFalse();
    screenshot("web-edit.png");

    // a strength that runs none of the 4 steps is refused on the page
    js(
        "const s = document.getElementById('strength'); s.value = '0.2';"
            + " s.dispatchEvent(new Event('input'));");
    generate();
    waitFor("the strength error", () -> byId("gen-error").isDisplayed());
    assertThat(byId("gen-error").getText()).contains("from 0.25 to 1", "4 steps");

    // without the image the form samples from noise again
    byId("init-clear").click();
    assertThat(byId("strength-row").isDisplayed()).isFalse();
    assertThat(byId("steps-field").isDisplayed()).isTrue();
    type("seeds", "1");
    type("steps", "4");
    generate();
    assertThat(images(1)).containsExactly("data:image/png;base64," + predictDirectly(1, 1, 3.0, 4));
    assertThat(byId("share-hint").isDisplayed()).isTrue();
    assertNoConsoleErrors();
  }

  /** A 28×28 gray shirt-like test image, written as a PNG. */
  static Path shirt(Path dir) throws Exception {
    java.awt.image.BufferedImage shirt =
        new java.awt.image.BufferedImage(28, 28, java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < 28; y++) {
      for (int x = 0; x < 28; x++) {
        shirt.getRaster().setSample(x, y, 0, Math.abs(x - 14) < 8 && y > 3 ? 200 - 3 * y : 10);
      }
    }
    Path file = dir.resolve("shirt.png");
    javax.imageio.ImageIO.write(shirt, "png", file.toFile());
    return file;
  }

  /** A gray PNG of {@code w}×{@code h}: white where {@code white} holds, black elsewhere. */
  static Path maskFile(
      Path file, int w, int h, java.util.function.BiPredicate<Integer, Integer> white)
      throws Exception {
    java.awt.image.BufferedImage mask =
        new java.awt.image.BufferedImage(w, h, java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        mask.getRaster().setSample(x, y, 0, white.test(x, y) ? 255 : 0);
      }
    }
    javax.imageio.ImageIO.write(mask, "png", file.toFile());
    return file;
  }

  /**
   * The PNG (b64) of one inpaint image straight from :predict: the image file, the mask as JSON (a
   * [1, 28, 28, 1] list of numbers or a list of one {"b64": ...} file).
   */
  static String inpaintDirectly(
      long seed, int label, double guidance, double strength, byte[] png, String maskJson)
      throws Exception {
    String body =
        String.format(
            java.util.Locale.ROOT,
            "{\"signature_name\": \"inpaint\", \"inputs\": {\"seed\": [%d], \"class_label\": [%d],"
                + " \"guidance_scale\": [%s], \"strength\": %s, \"images\": [{\"b64\": \"%s\"}],"
                + " \"mask\": %s}}",
            seed,
            label,
            guidance,
            strength,
            java.util.Base64.getEncoder().encodeToString(png),
            maskJson);
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(URI.create(server.url() + "/v1/models/fashion:predict"))
                    .POST(HttpRequest.BodyPublishers.ofString(body))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode json = new ObjectMapper().readTree(r.body());
    return json.path("outputs").path("images_png_bytes").get(0).path("b64").asText();
  }

  /** The page's mask, row-major, values in [0, 1]. */
  @SuppressWarnings("unchecked")
  static double[] pageMask() {
    List<Number> values = (List<Number>) js("return Array.from(state.mask)");
    return values.stream().mapToDouble(Number::doubleValue).toArray();
  }

  static long painted(double[] mask) {
    return java.util.Arrays.stream(mask).filter(m -> m > 0).count();
  }

  @Test
  void aPaintedOrUploadedMaskGivesTheInpaintSignaturesResults(@TempDir Path tmp) throws Exception {
    open("");
    waitFor("the model's signatures", () -> byId("edit-field").isDisplayed());
    assertThat(byId("mask-field").isDisplayed()).as("no image yet").isFalse();
    Path file = shirt(tmp);
    byte[] png = Files.readAllBytes(file);
    byId("init-image").sendKeys(file.toAbsolutePath().toString());
    waitFor("the mask controls", () -> byId("mask-field").isDisplayed());
    assertThat(byId("mask-editor").isDisplayed()).isFalse();
    byId("mask-on").click();
    assertThat(byId("mask-editor").isDisplayed()).isTrue();
    assertThat(byId("strength-value").getText())
        .as("inpainting starts at strength 1")
        .isEqualTo("1");
    choose("class", "Trouser");
    type("guidance", "3");
    type("seeds", "1, 2");
    generate();
    waitFor("the empty-mask error", () -> byId("gen-error").isDisplayed());
    assertThat(byId("gen-error").getText()).contains("The mask is empty", "paint the area");

    // a stroke with a brush 4 pixels wide down the image's left part, from (6, 6) to (6, 20):
    // the canvas shows the 28 mask pixels at 224 CSS pixels, 8 per pixel, offsets from its centre
    js(
        "const b = document.getElementById('brush'); b.value = '4';"
            + " b.dispatchEvent(new Event('input'));");
    WebElement canvas = byId("mask-canvas");
    assertThat(canvas.getSize().getWidth()).isEqualTo(224);
    new org.openqa.selenium.interactions.Actions(driver)
        .moveToElement(canvas, 6 * 8 + 4 - 112, 6 * 8 + 4 - 112)
        .clickAndHold()
        .moveByOffset(0, 7 * 8)
        .moveByOffset(0, 7 * 8)
        .release()
        .perform();
    double[] drawn = pageMask();
    assertThat(drawn).hasSize(28 * 28);
    assertThat(java.util.Arrays.stream(drawn).allMatch(m -> m == 0 || m == 1))
        .as("a brush paints 0 or 1")
        .isTrue();
    // pixel (x, y) = drawn[y * 28 + x]: on the stroke painted, away from it kept
    assertThat(drawn[13 * 28 + 6]).as("on the stroke").isEqualTo(1.0);
    assertThat(drawn[6 * 28 + 6]).as("its start").isEqualTo(1.0);
    assertThat(drawn[20 * 28 + 6]).as("its end").isEqualTo(1.0);
    assertThat(drawn[13 * 28 + 20]).as("right of it").isZero();
    assertThat(drawn[2 * 28 + 6]).as("above it").isZero();
    assertThat(painted(drawn)).isBetween(50L, 90L);
    generate();
    List<String> filled = images(2);
    StringBuilder rows = new StringBuilder("[[");
    for (int y = 0; y < 28; y++) {
      rows.append(y == 0 ? "[" : ",[");
      for (int x = 0; x < 28; x++) {
        rows.append(x == 0 ? "[" : ",[").append(drawn[y * 28 + x] > 0 ? "1" : "0").append("]");
      }
      rows.append("]");
    }
    rows.append("]]");
    assertThat(filled.get(0))
        .as("the page asks inpaint for seed 1, Trouser, guidance 3, strength 1, the file, the mask")
        .isEqualTo(
            "data:image/png;base64," + inpaintDirectly(1, 1, 3.0, 1.0, png, rows.toString()));
    assertThat(filled.get(1)).isNotEqualTo(filled.get(0));
    assertThat(byId("result-info").getText()).contains("the painted area regenerated, strength 1");
    screenshot("web-inpaint.png");
    js("document.getElementById('mask-editor').scrollIntoView({block: 'center'})");
    Files.copy(
        driver.getScreenshotAs(OutputType.FILE).toPath(),
        Path.of("target", "web-mask.png"),
        StandardCopyOption.REPLACE_EXISTING);

    byId("mask-invert").click();
    assertThat(painted(pageMask())).isEqualTo(28 * 28 - painted(drawn));
    byId("mask-clear").click();
    assertThat(painted(pageMask())).isZero();

    // an uploaded mask: the left half regenerated, at strength 0.5
    Path left = maskFile(tmp.resolve("left.png"), 28, 28, (x, y) -> x < 14);
    byId("mask-file").sendKeys(left.toAbsolutePath().toString());
    waitFor("the uploaded mask", () -> painted(pageMask()) == 14 * 28);
    js(
        "const s = document.getElementById('strength'); s.value = '0.5';"
            + " s.dispatchEvent(new Event('input'));");
    type("seeds", "3");
    generate();
    String leftMask =
        "[{\"b64\": \""
            + java.util.Base64.getEncoder().encodeToString(Files.readAllBytes(left))
            + "\"}]";
    assertThat(images(1))
        .containsExactly("data:image/png;base64," + inpaintDirectly(3, 1, 3.0, 0.5, png, leftMask));

    // masks that do not fit are refused on the page, naming the fix
    Path small = maskFile(tmp.resolve("small.png"), 10, 10, (x, y) -> true);
    byId("mask-file").sendKeys(small.toAbsolutePath().toString());
    waitFor("the size error", () -> byId("gen-error").isDisplayed());
    assertThat(byId("gen-error").getText())
        .contains("is 10×10 but the image is 28×28", "a mask of the image's size");
    java.awt.image.BufferedImage red =
        new java.awt.image.BufferedImage(28, 28, java.awt.image.BufferedImage.TYPE_INT_RGB);
    red.setRGB(3, 3, 0xff0000);
    Path colours = tmp.resolve("colours.png");
    javax.imageio.ImageIO.write(red, "png", colours.toFile());
    byId("mask-file").sendKeys(colours.toAbsolutePath().toString());
    waitFor("the colour error", () -> byId("gen-error").getText().contains("has colours"));
    assertThat(painted(pageMask())).as("the last good mask stays").isEqualTo(14 * 28);

    // an export without the inpaint signature: the mask controls give way to a message
    js(
        "const f = window.fetch; window.fetch = async (url, init) => { const r = await f(url,"
            + " init); if (!String(url).endsWith('/metadata')) return r; const m = await r.json();"
            + " delete m.metadata.signature_def.signature_def.inpaint;"
            + " return new Response(JSON.stringify(m), {status: 200}); };"
            + " document.getElementById('version').dispatchEvent(new Event('change'));");
    waitFor("the missing-inpaint message", () -> byId("mask-missing").isDisplayed());
    assertThat(byId("mask-missing").getText())
        .contains("no inpaint signature", "export the run again with tfdiffusion export");
    assertThat(byId("mask-field").isDisplayed()).isFalse();
    assertThat(byId("strength-row").isDisplayed()).as("image-to-image stays").isTrue();
    assertNoConsoleErrors();
  }

  @Test
  void theInterpolationStripIsWhatSampleInterpolateDraws() throws Exception {
    open("");
    waitFor("the strip's controls", () -> byId("strip-field").isDisplayed());
    choose("class", "Trouser");
    type("guidance", "3");
    type("seed-a", "3");
    type("seed-b", "7");
    type("frames", "1");
    byId("interpolate").click();
    waitFor("the frames error", () -> byId("gen-error").isDisplayed());
    assertThat(byId("gen-error").getText()).contains("Frames must be a whole number from 2 to 8");
    type("frames", "4");
    type("strip-steps", "4");
    // Enter in a strip field draws the strip (the form's Generate does not run)
    byId("strip-steps").sendKeys(org.openqa.selenium.Keys.ENTER);
    waitFor(
        "4 frames",
        () ->
            (Boolean)
                js(
                    "const imgs = [...document.querySelectorAll('#strip img')];"
                        + " return !document.getElementById('interpolate').disabled"
                        + " && imgs.length === 4"
                        + " && imgs.every(i => i.complete && i.naturalWidth === 28);"));
    @SuppressWarnings("unchecked")
    List<String> frames =
        (List<String>) js("return [...document.querySelectorAll('#strip img')].map(i => i.src)");
    assertThat(byId("strip-info").getText())
        .contains("4 frames from seed 3 to seed 7", "Trouser", "guidance 3");
    assertThat(driver.findElements(By.cssSelector("#results img"))).isEmpty();
    screenshot("web-strip.png");

    // what sample --model EXPORT --interpolate 3,7 --frames 4 --steps 4 --class Trouser
    // --guidance 3 draws: its sampler options, the export's weights in a sampling graph of its own
    Path version = WebFixture.base().resolve("fashion").resolve("1");
    org.tfdiffusion.run.ExportedModel export = org.tfdiffusion.run.ExportedModel.open(version);
    // sample's default sampler with --steps 4
    org.tfdiffusion.sampling.Sampler sampler =
        org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.of(4);
    float[] expected;
    try (org.tfdiffusion.run.ImageSampler strip =
        org.tfdiffusion.run.ImageSampler.openExport(
            export,
            sampler,
            org.tfdiffusion.run.EditMode.interpolate(4),
            false,
            0,
            org.tfdiffusion.graph.SessionOptions.sampling())) {
      expected = strip.interpolate(3, 7, 1, 3f, i -> {}).pixels();
    }
    for (int f = 0; f < 4; f++) {
      String src = frames.get(f);
      java.awt.image.BufferedImage image =
          javax.imageio.ImageIO.read(
              new java.io.ByteArrayInputStream(
                  java.util.Base64.getDecoder().decode(src.substring(src.indexOf(',') + 1))));
      for (int y = 0; y < 28; y++) {
        for (int x = 0; x < 28; x++) {
          float v = expected[(f * 28 + y) * 28 + x];
          assertThat(image.getRaster().getSample(x, y, 0))
              .as("frame %d pixel (%d, %d)", f, x, y)
              .isEqualTo(Math.round(Math.max(0f, Math.min(1f, v)) * 255f));
        }
      }
    }
    assertThat(frames.get(0)).isNotEqualTo(frames.get(3));

    // a server that cannot interpolate for this model: the strip's controls give way to its words
    js(
        "const f = window.fetch; window.fetch = (url, init) => String(url).endsWith(':interpolate')"
            + " ? Promise.resolve(new Response(JSON.stringify({error: 'no interpolation here'}),"
            + " {status: 404})) : f(url, init);");
    byId("interpolate").click();
    waitFor("the missing-strip message", () -> byId("strip-missing").isDisplayed());
    assertThat(byId("strip-missing").getText())
        .contains("cannot interpolate", "no interpolation here");
    assertThat(byId("strip-field").isDisplayed()).isFalse();
  }

  @Test
  void badInputAndServerErrorsAreShownInPlainWords() {
    open("");
    waitFor("the model's signatures", () -> byId("steps-field").isDisplayed());
    type("seeds", "1, x2");
    generate();
    waitFor("the seed error", () -> byId("gen-error").isDisplayed());
    assertThat(byId("gen-error").getText())
        .contains("Seed \"x2\" is not a whole number")
        .contains("separated by commas");
    assertThat(driver.findElements(By.cssSelector("#results img"))).isEmpty();

    type("seeds", "1-9");
    generate();
    assertThat(byId("gen-error").getText()).contains("limit of 8", "serve --max-batch");

    type("seeds", "5");
    type("steps", "101");
    generate();
    assertThat(byId("gen-error").getText()).contains("from 1 to 100");

    // a class label out of range reaches the server, whose message the page shows
    open("#view=generate&model=fashion&class=12&seeds=1&steps=4");
    waitFor("the server's error", () -> byId("gen-error").isDisplayed());
    assertThat(byId("gen-error").getText())
        .startsWith("The server could not run this request:")
        .contains("class_label must be in [0, 9]");
    assertThat(byId("generate").isEnabled()).isTrue();
    assertThat(byId("progress").isDisplayed()).isFalse();

    open("#view=generate&model=nope&seeds=1");
    // the same page, only its hash changed: the link is read once the hashchange is handled
    waitFor("the link's error", () -> byId("gen-error").getText().contains("nope"));
    assertThat(byId("gen-error").getText()).contains("model \"nope\"", "fashion");
    assertNoConsoleErrors();
  }

  @Test
  void whileTheServerWorksTheButtonIsDisabledAndProgressShows() {
    open("");
    waitFor("the model's signatures", () -> byId("steps-field").isDisplayed());
    // a slow server: every request of the page waits 1.5 s before it is sent
    js(
        "const f = window.fetch; window.fetch = (...a) =>"
            + " new Promise(r => setTimeout(r, 1500)).then(() => f(...a));");
    type("seeds", "7, 8");
    generate();
    assertThat(byId("generate").isEnabled()).isFalse();
    assertThat(byId("random").isEnabled()).isFalse();
    assertThat(byId("progress").isDisplayed()).isTrue();
    assertThat(byId("progress-text").getText()).startsWith("Generating 2 images…");
    assertThat(images(2)).hasSize(2);
    assertThat(byId("generate").isEnabled()).isTrue();
    assertThat(byId("progress").isDisplayed()).isFalse();
  }

  @Test
  void theRunsViewShowsTheLossCurveAndTheSampleGridsNewestFirst() throws Exception {
    open("#view=runs");
    waitFor(
        "the loss curve",
        () -> !driver.findElements(By.cssSelector("#chart polyline.raw")).isEmpty());
    assertThat(driver.findElements(By.cssSelector("#run-list button")))
        .extracting(WebElement::getText)
        .satisfiesExactly(
            demo -> assertThat(demo).contains("demo-run", "step 300", "3 grids"),
            empty -> assertThat(empty).contains("empty-run", "no metrics yet"));
    String points =
        driver.findElement(By.cssSelector("#chart polyline.raw")).getAttribute("points");
    assertThat(points.trim().split("\\s+")).hasSize(WebFixture.ROWS);
    assertThat(driver.findElements(By.cssSelector("#chart polyline.smooth"))).hasSize(1);
    waitFor(
        "the sample grids",
        () ->
            (Boolean)
                js(
                    "const imgs = [...document.querySelectorAll('#samples img')];"
                        + " return imgs.length === 3"
                        + " && imgs.every(i => i.complete && i.naturalWidth === 28);"));
    assertThat(driver.findElements(By.cssSelector("#samples img")))
        .extracting(i -> i.getAttribute("data-step"))
        .containsExactly("300", "200", "100");
    assertThat(byId("run-summary").getText()).contains("demo", "28×28×1");
    assertThat(driver.getCurrentUrl()).contains("view=runs", "run=demo-run");
    screenshot("web-runs.png");

    choose("series", "learning rate");
    assertThat(byId("chart").getText()).contains("0.002");

    driver.findElement(By.cssSelector("#run-list button[data-run='empty-run']")).click();
    waitFor("the empty run", () -> byId("chart").getText().contains("No metrics yet"));
    assertThat(byId("samples").getText()).contains("No sample grids yet");
    assertNoConsoleErrors();
  }

  @Test
  void withoutModelsOrRunsThePageSaysWhatToDo(@TempDir Path empty) {
    try (RestServer bare =
        RestServer.start(
            empty,
            RestServer.Options.defaults().withPort(0).withPoll(Duration.ZERO),
            ServerLog.quiet())) {
      open(bare, "");
      assertThat(byId("model-info").getText()).contains("No models yet", "./tfdiffusion export");
      assertThat(byId("generate").isEnabled()).isFalse();
      open(bare, "#view=runs");
      waitFor("the runs hint", () -> byId("runs-dir").getText().contains("serve --runs DIR"));
      assertThat(byId("run-detail").isDisplayed()).isFalse();
      assertNoConsoleErrors();
    }
  }
}
