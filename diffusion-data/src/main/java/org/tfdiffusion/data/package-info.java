/**
 * Training data: loading, checking, fitting to the model, and batching.
 *
 * <ul>
 *   <li>{@link org.tfdiffusion.data.DataSources#open(String, org.tfdiffusion.data.DataOptions)}
 *       turns {@code embedded}, an IDX folder (MNIST, Fashion-MNIST, e.g. Debian's {@code
 *       /usr/share/datasets/fashion-mnist}) or a folder of PNG/JPEG images into an {@link
 *       org.tfdiffusion.data.ImageDataset}, failing with a {@link
 *       org.tfdiffusion.data.DataException} that names the file and the fix.
 *   <li>{@link org.tfdiffusion.data.ImageFit} brings images to the model's size and channels: pad,
 *       center-crop or resize; gray ↔ RGB.
 *   <li>{@link org.tfdiffusion.data.BatchIterator} hands out seeded, shuffled, optionally flipped
 *       batches in [-1, 1], and saves / restores its {@link org.tfdiffusion.data.BatchPosition}.
 * </ul>
 *
 * <p>Only the JDK ({@code javax.imageio}, {@code java.util.zip}) and Guava; no TensorFlow.
 */
package org.tfdiffusion.data;
