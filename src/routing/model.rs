//! A linear model over the same analysed terms as the index: multinomial logistic
//! regression on TF-IDF weighted stems, stem pairs and character grams, trained at start
//! from the knowledge base. It gives every department a probability; the classifier
//! blends it with the votes of the nearest past answers and the rules.

use super::analysis::AnalysedText;
use std::collections::HashMap;

/// Settings of the training.
#[derive(Debug, Clone, Copy)]
pub struct TrainingSettings {
    /// Passes over the data.
    pub epochs: usize,
    /// Initial learning rate.
    pub learning_rate: f32,
    /// L2 regularisation strength.
    pub l2: f32,
}

impl Default for TrainingSettings {
    fn default() -> Self {
        Self {
            epochs: 30,
            learning_rate: 1.0,
            l2: 1e-6,
        }
    }
}

/// A sparse, L2-normalised TF-IDF vector.
type Features = Vec<(u32, f32)>;

/// The trained model.
#[derive(Debug, Clone, Default)]
pub struct LinearModel {
    vocabulary: HashMap<String, u32>,
    idf: Vec<f32>,
    classes: Vec<String>,
    /// Row-major: feature f's weights for every class at `f * classes.len()`.
    weights: Vec<f32>,
    bias: Vec<f32>,
}

/// Feature names of an analysed text: words (stop words too), neighbouring word pairs,
/// stems and character grams.
fn terms(text: &AnalysedText) -> Vec<String> {
    let mut out = Vec::with_capacity(text.words.len() * 3 + text.grams.len());
    for w in &text.words {
        out.push(format!("w:{w}"));
    }
    for pair in text.words.windows(2) {
        out.push(format!("p:{} {}", pair[0], pair[1]));
    }
    for s in &text.stems {
        out.push(format!("s:{s}"));
    }
    for g in &text.grams {
        out.push(format!("g:{g}"));
    }
    out
}

impl LinearModel {
    /// Trains on labelled texts. Returns an empty model when there are fewer than two classes.
    pub fn train(examples: &[(AnalysedText, String)], settings: TrainingSettings) -> Self {
        let mut classes: Vec<String> = examples.iter().map(|(_, c)| c.clone()).collect();
        classes.sort();
        classes.dedup();
        if classes.len() < 2 {
            return Self::default();
        }
        let class_index: HashMap<String, usize> = classes
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, c)| (c, i))
            .collect();

        // Vocabulary and document frequencies.
        let mut vocabulary: HashMap<String, u32> = HashMap::new();
        let mut df: Vec<u32> = Vec::new();
        let docs: Vec<Vec<u32>> = examples
            .iter()
            .map(|(text, _)| {
                let mut ids: Vec<u32> = terms(text)
                    .into_iter()
                    .map(|t| {
                        let next = vocabulary.len() as u32;
                        let id = *vocabulary.entry(t).or_insert(next);
                        if id as usize == df.len() {
                            df.push(0);
                        }
                        id
                    })
                    .collect();
                let mut unique = ids.clone();
                unique.sort_unstable();
                unique.dedup();
                for id in &unique {
                    df[*id as usize] += 1;
                }
                ids.sort_unstable();
                ids
            })
            .collect();
        let n = examples.len() as f32;
        let idf: Vec<f32> = df
            .iter()
            .map(|d| ((1.0 + n) / (1.0 + *d as f32)).ln() + 1.0)
            .collect();
        let mut model = Self {
            weights: vec![0.0; vocabulary.len() * classes.len()],
            bias: vec![0.0; classes.len()],
            vocabulary,
            idf,
            classes,
        };
        let vectors: Vec<(Features, usize)> = docs
            .iter()
            .zip(examples)
            .map(|(ids, (_, class))| (model.vectorise_ids(ids), class_index[class]))
            .collect();

        let c = model.classes.len();
        let mut order: Vec<usize> = (0..vectors.len()).collect();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut probabilities = vec![0.0f32; c];
        let mut step = 0usize;
        let total_steps = (settings.epochs * vectors.len()).max(1);
        for _ in 0..settings.epochs {
            // Deterministic shuffle (xorshift), so training is repeatable.
            for i in (1..order.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                order.swap(i, (seed % (i as u64 + 1)) as usize);
            }
            for &i in &order {
                let (x, y) = &vectors[i];
                let rate =
                    settings.learning_rate * (1.0 - step as f32 / total_steps as f32).max(0.05);
                step += 1;
                model.scores_into(x, &mut probabilities);
                softmax(&mut probabilities);
                probabilities[*y] -= 1.0; // gradient of the cross-entropy
                for (f, v) in x {
                    let row = &mut model.weights[*f as usize * c..(*f as usize + 1) * c];
                    for (w, g) in row.iter_mut().zip(&probabilities) {
                        *w -= rate * (g * v + settings.l2 * *w);
                    }
                }
                for (b, g) in model.bias.iter_mut().zip(&probabilities) {
                    *b -= rate * g * 0.1;
                }
            }
        }
        model
    }

    fn vectorise_ids(&self, sorted_ids: &[u32]) -> Features {
        let mut out: Features = Vec::new();
        for id in sorted_ids {
            match out.last_mut() {
                Some((last, count)) if last == id => *count += 1.0,
                _ => out.push((*id, 1.0)),
            }
        }
        for (id, v) in out.iter_mut() {
            *v = (1.0 + v.ln()) * self.idf[*id as usize];
        }
        let norm = out.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (_, v) in out.iter_mut() {
                *v /= norm;
            }
        }
        out
    }

    fn scores_into(&self, x: &Features, out: &mut [f32]) {
        let c = self.classes.len();
        out.copy_from_slice(&self.bias);
        for (f, v) in x {
            let row = &self.weights[*f as usize * c..(*f as usize + 1) * c];
            for (o, w) in out.iter_mut().zip(row) {
                *o += w * v;
            }
        }
    }

    /// Whether the model was trained.
    pub fn is_trained(&self) -> bool {
        !self.classes.is_empty()
    }

    /// Each class with its probability, best first; empty for an untrained model or a text
    /// with no known term.
    pub fn predict(&self, text: &AnalysedText) -> Vec<(String, f64)> {
        if !self.is_trained() {
            return Vec::new();
        }
        let mut ids: Vec<u32> = terms(text)
            .iter()
            .filter_map(|t| self.vocabulary.get(t).copied())
            .collect();
        if ids.is_empty() {
            return Vec::new();
        }
        ids.sort_unstable();
        let x = self.vectorise_ids(&ids);
        let mut scores = vec![0.0f32; self.classes.len()];
        self.scores_into(&x, &mut scores);
        softmax(&mut scores);
        let mut ranked: Vec<(String, f64)> = self
            .classes
            .iter()
            .cloned()
            .zip(scores.into_iter().map(f64::from))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked
    }
}

fn softmax(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in v.iter_mut() {
        *x /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::analysis::Analyser;

    #[test]
    fn the_model_learns_departments_from_examples() {
        let a = Analyser::new();
        let data = [
            ("soptunnan töms inte", "vatten"),
            ("sophämtningen missade oss", "vatten"),
            ("vattenläcka på gatan", "vatten"),
            ("bygglov för altan", "bygg"),
            ("bygglovsansökan för garage", "bygg"),
            ("strandskydd och bygglov", "bygg"),
        ];
        let examples: Vec<(AnalysedText, String)> = data
            .iter()
            .map(|(t, c)| (a.analyse(t, false), c.to_string()))
            .collect();
        let model = LinearModel::train(&examples, TrainingSettings::default());
        assert_eq!(
            model.predict(&a.analyse("när töms soporna", false))[0].0,
            "vatten"
        );
        assert_eq!(
            model.predict(&a.analyse("behöver jag bygglov", false))[0].0,
            "bygg"
        );
        let p: f64 = model
            .predict(&a.analyse("bygglov", false))
            .iter()
            .map(|(_, p)| p)
            .sum();
        assert!((p - 1.0).abs() < 1e-4);
        assert!(model.predict(&a.analyse("xyzzy", false)).is_empty());
        assert!(!LinearModel::train(&examples[..1], TrainingSettings::default()).is_trained());
    }
}
