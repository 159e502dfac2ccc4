/**
 * Training: datasets, AdamW, EMA, checkpoints, TensorBoard logging and the training loop (the
 * training issue). Empty until that lands.
 */
package org.tfdiffusion.train;
