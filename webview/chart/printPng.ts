/**
 * The print-resolution PNG: the same figure as the SVG export (light background, title, model names, one
 * panel per metric) drawn at 3x through a canvas. The SVG loads as a data: image, which the CSP allows
 * (img-src data:) and which leaves the canvas exportable.
 */
import type { SaeDiffReport } from '../../src/shared/reportTypes';
import { layerProfileSvg } from '../../src/shared/layerProfileSvg';

export const PRINT_SCALE = 3;

export function printPng(report: SaeDiffReport): Promise<string> {
  const svg = layerProfileSvg(report);
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => {
      const canvas = document.createElement('canvas');
      canvas.width = image.naturalWidth * PRINT_SCALE;
      canvas.height = image.naturalHeight * PRINT_SCALE;
      const ctx = canvas.getContext('2d');
      if (!ctx) return reject(new Error('no 2D canvas'));
      ctx.fillStyle = '#ffffff';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
      resolve(canvas.toDataURL('image/png'));
    };
    image.onerror = () => reject(new Error('the SVG figure did not load'));
    image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
  });
}
