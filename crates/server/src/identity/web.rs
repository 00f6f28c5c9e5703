//! The identity pages.

use crate::routes::Routes;

pub fn routes(r: Routes) -> Routes {
    r
}
