//! Errors of a submitted form, each tied to the field it is about, so a page can show every
//! problem at once next to its field (with `aria-invalid`) and move focus to the first.

/// The problems found in one form submission, in the order of the form's fields.
#[derive(Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    /// Records a problem with `field`; the first problem per field wins.
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field, message.into()));
        }
    }

    /// Keeps `Ok` values and records the error of an `Err` against `field`.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &'static str,
        r: Result<T, E>,
    ) -> Option<T> {
        r.map_err(|e| self.add(field, e.to_string())).ok()
    }

    /// The problem with `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    /// The field that gets focus: the first with a problem.
    pub fn first(&self) -> &str {
        self.0.first().map_or("", |(f, _)| f)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Every problem as (field, message), for the summary above the form.
    pub fn all(&self) -> &[(&'static str, String)] {
        &self.0
    }
}
